"""A shadow that hangs: accepts, reads requests, never answers.

usage: python3 hung_shadow.py PORT COUNT_FILE

Writes "<requests read> <connections accepted>" to COUNT_FILE every 200 ms and on SIGTERM,
not counting the readiness probes (path /ready-probe).
"""

import asyncio
import re
import os
import signal
import sys

REQUEST_LINE = re.compile(rb"^[A-Z]+ (\S+) HTTP/1\.[01]$")
requests = 0
connections = 0


def write_counts(path):
    with open(path + ".tmp", "w") as f:
        f.write(f"{requests} {connections}\n")
    # Atomic, so a reader never sees a half-written file.
    os.replace(path + ".tmp", path)


async def hang(reader, writer):
    global requests, connections
    connections += 1
    buf = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            buf += data
            *lines, buf = buf.split(b"\r\n")
            buf = buf[-8192:]
            for line in lines:
                m = REQUEST_LINE.match(line)
                if m and m.group(1) != b"/ready-probe":
                    requests += 1
    except (ConnectionError, OSError):
        pass
    # Never answer: the connection stays open until the peer gives up.
    writer.close()


async def main(port, path):
    server = await asyncio.start_server(hang, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        while not stop.is_set():
            write_counts(path)
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except asyncio.TimeoutError:
                pass
    write_counts(path)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
