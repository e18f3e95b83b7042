//! Several files read as one configuration (`Config::from_files`) and a directory, such as
//! a ConfigMap mounted as one (`Config::from_dir`); errors and warnings name the file.

use std::path::{Path, PathBuf};

use tower_mirror::istio::Config;
use tower_mirror::route::Labels;

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "tower-mirror-istio-files-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ROUTES: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
";

const SUBSETS: &str = "# subsets of reviews
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
";

#[test]
fn several_files_read_as_one_configuration() {
    let dir = TempDir::new("several");
    let routes = dir.write("routes.yaml", ROUTES);
    let subsets = dir.write("subsets.yaml", SUBSETS);
    let config = Config::from_files([&routes, &subsets]).unwrap();
    let rule = &config.rules()[0];
    assert_eq!(rule.splits[0].labels, Labels::from([("version", "v1")]));
    assert_eq!(rule.mirrors[0].labels, Labels::from([("version", "v2")]));
    // Read as the concatenation would be.
    assert_eq!(
        config,
        Config::from_yaml(&format!("{ROUTES}---\n{SUBSETS}")).unwrap()
    );
}

#[test]
fn errors_name_the_file_and_count_lines_and_documents_in_it() {
    let dir = TempDir::new("errors");
    let routes = dir.write("routes.yaml", ROUTES);
    let broken = dir.write(
        "broken.yaml",
        &format!(
            "{SUBSETS}---\n{}",
            ROUTES.replace("subset: v1", "subset: v9")
        ),
    );
    let err = Config::from_files([&routes, &broken]).unwrap_err();
    assert_eq!(err.file(), Some(broken.as_path()));
    assert_eq!(
        (err.document(), err.line(), err.column()),
        (Some(2), Some(17), Some(51))
    );
    assert!(
        err.to_string().starts_with(&format!(
            "{}, document 2 (VirtualService \"reviews\"), spec.http[0].route[0].destination.subset \
             at line 17, column 51: unknown subset `v9`",
            broken.display()
        )),
        "{err}"
    );

    // Syntax errors and control characters too.
    let bad = dir.write("bad.yaml", "kind: [\n");
    let err = Config::from_files([&routes, &bad]).unwrap_err();
    assert_eq!((err.file(), err.line()), (Some(bad.as_path()), Some(1)));
    let nul = dir.write("nul.yaml", "a: b\n\0");
    let err = Config::from_files([&routes, &nul]).unwrap_err();
    assert_eq!(
        (err.file(), err.line(), err.column()),
        (Some(nul.as_path()), Some(2), Some(1))
    );

    // A file that cannot be read, or is not text.
    let missing = dir.0.join("missing.yaml");
    let err = Config::from_files([&routes, &missing]).unwrap_err();
    assert_eq!(err.file(), Some(missing.as_path()));
    assert!(err.message().starts_with("cannot read the file: "), "{err}");
    let binary = dir.0.join("binary.yaml");
    std::fs::write(&binary, b"kind: \xff\n").unwrap();
    let err = Config::from_files([&binary]).unwrap_err();
    assert_eq!(
        (err.file(), err.message()),
        (
            Some(binary.as_path()),
            "the file is not UTF-8 text (invalid byte at offset 6)"
        )
    );
}

#[test]
fn warnings_name_the_file_and_come_in_file_order() {
    let dir = TempDir::new("warnings");
    // The second file's warning is on an earlier line than the first's.
    let first = dir.write(
        "first.yaml",
        &format!("{SUBSETS}---\n{}", ROUTES.replace("  http:\n", "  http:\n  - retries: {attempts: 3}\n    route: [{destination: {host: reviews, subset: v1}}]\n")),
    );
    let second = dir.write(
        "second.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\n",
    );
    let config = Config::from_files([&first, &second]).unwrap();
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].starts_with(&format!("{}, document 2", first.display())),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("spec.http[0].retries at line 17"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].starts_with(&format!("{}, document 1, kind at line 2", second.display())),
        "{}",
        warnings[1]
    );
}

#[test]
fn a_later_file_replaces_a_resource_of_an_earlier_one() {
    let dir = TempDir::new("replace");
    let subsets = dir.write("1-subsets.yaml", SUBSETS);
    let routes = dir.write("2-routes.yaml", ROUTES);
    let mirror_v1 = dir.write(
        "3-mirror-v1.yaml",
        &ROUTES.replace("subset: v2}", "subset: v1}"),
    );
    let config = Config::from_files([&subsets, &routes, &mirror_v1]).unwrap();
    assert_eq!(config.rules().len(), 1);
    assert_eq!(
        config.rules()[0].mirrors[0].labels,
        Labels::from([("version", "v1")])
    );
    assert!(config.warnings()[0].contains("replaces VirtualService \"reviews\" of document 1"));
}

/// What Kubernetes makes of a ConfigMap with keys `routes.yaml` and `subsets` mounted at a
/// directory: the data in a timestamped directory, `..data` pointing at it, and one link
/// per key.
#[cfg(unix)]
fn configmap_mount(dir: &Path) {
    use std::os::unix::fs::symlink;
    let data = dir.join("..2026_11_30_09_00_00.000000001");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("routes.yaml"), ROUTES).unwrap();
    std::fs::write(data.join("subsets"), SUBSETS).unwrap();
    symlink("..2026_11_30_09_00_00.000000001", dir.join("..data")).unwrap();
    symlink("..data/routes.yaml", dir.join("routes.yaml")).unwrap();
    symlink("..data/subsets", dir.join("subsets")).unwrap();
}

#[cfg(unix)]
#[test]
fn a_configmap_mounted_as_a_directory() {
    let dir = TempDir::new("configmap");
    configmap_mount(&dir.0);
    // Not configuration: skipped.
    dir.write("README.md", "# rules\n");
    dir.write(".hidden.yaml", "not: [valid");
    std::fs::create_dir(dir.0.join("nested.yaml")).unwrap();

    let config = Config::from_dir(&dir.0).unwrap();
    assert_eq!(config.rules().len(), 1);
    assert_eq!(
        config.rules()[0].mirrors[0].labels,
        Labels::from([("version", "v2")])
    );

    // An error names the key's file as mounted.
    std::fs::write(
        dir.0.join("..data/subsets"),
        SUBSETS.replace("name: v2", "name: \"\""),
    )
    .unwrap();
    let err = Config::from_dir(&dir.0).unwrap_err();
    assert_eq!(err.file(), Some(dir.0.join("subsets").as_path()));
    assert_eq!(err.line(), Some(9));
}

#[test]
fn a_directory_without_configuration_is_an_error() {
    let dir = TempDir::new("empty");
    dir.write("notes.txt", "nothing here\n");
    let err = Config::from_dir(&dir.0).unwrap_err();
    assert_eq!(err.file(), Some(dir.0.as_path()));
    assert!(err.message().starts_with("no configuration file"), "{err}");
    let err = Config::from_dir(dir.0.join("absent")).unwrap_err();
    assert!(
        err.message().starts_with("cannot read the directory: "),
        "{err}"
    );
}
