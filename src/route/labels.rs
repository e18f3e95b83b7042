use std::collections::{BTreeMap, btree_map};
use std::fmt;
use std::str::FromStr;

/// A set of `key=value` labels: the labels of a backend, or a selector over backends.
///
/// A selector [matches](Labels::matches) a backend when every selector label is also on the
/// backend (subset match), as Kubernetes label selectors and Istio subsets do. Keys are
/// unique and kept sorted, so two label sets with the same pairs are equal, hash alike and
/// display alike.
///
/// # Example
///
/// ```
/// use tower_mirror::route::Labels;
///
/// let backend = Labels::from([("version", "v1"), ("zone", "a")]);
/// let selector: Labels = "version=v1".parse().unwrap();
///
/// assert!(backend.matches(&selector));
/// assert!(!backend.matches(&Labels::from([("version", "v2")])));
/// assert_eq!(backend.to_string(), "version=v1,zone=a");
/// assert_eq!(backend.get("zone"), Some("a"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    // BTreeMap: a stable order for Display, Eq and Hash.
    map: BTreeMap<String, String>,
}

impl Labels {
    /// An empty label set. As a selector it matches every backend.
    ///
    /// ```
    /// use tower_mirror::route::Labels;
    ///
    /// assert!(Labels::from([("version", "v1")]).matches(&Labels::new()));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, returning the value it replaces.
    ///
    /// ```
    /// use tower_mirror::route::Labels;
    ///
    /// let mut labels = Labels::new();
    /// assert_eq!(labels.insert("version", "v1"), None);
    /// assert_eq!(labels.insert("version", "v2"), Some("v1".to_owned()));
    /// ```
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.map.insert(key.into(), value.into())
    }

    /// The value of `key`, if set.
    ///
    /// ```
    /// use tower_mirror::route::Labels;
    ///
    /// let labels = Labels::from([("version", "v1")]);
    /// assert_eq!(labels.get("version"), Some("v1"));
    /// assert_eq!(labels.get("zone"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Whether these labels (a backend's) carry every label of `selector`.
    ///
    /// Extra labels on the backend do not matter; a selector label that is missing or has
    /// another value does.
    ///
    /// ```
    /// use tower_mirror::route::Labels;
    ///
    /// let backend = Labels::from([("version", "v1"), ("zone", "a")]);
    /// assert!(backend.matches(&Labels::from([("zone", "a")])));
    /// assert!(!backend.matches(&Labels::from([("zone", "b")])));
    /// assert!(!backend.matches(&Labels::from([("version", "v1"), ("tier", "gold")])));
    /// ```
    pub fn matches(&self, selector: &Labels) -> bool {
        selector.iter().all(|(k, v)| self.get(k) == Some(v))
    }

    /// The labels as `(key, value)` pairs, sorted by key.
    ///
    /// ```
    /// use tower_mirror::route::Labels;
    ///
    /// let labels = Labels::from([("zone", "a"), ("version", "v1")]);
    /// let pairs: Vec<_> = labels.iter().collect();
    /// assert_eq!(pairs, [("version", "v1"), ("zone", "a")]);
    /// ```
    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter {
            inner: self.map.iter(),
        }
    }

    /// Whether there are no labels.
    ///
    /// ```
    /// use tower_mirror::route::Labels;
    ///
    /// assert!(Labels::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The number of labels.
    ///
    /// ```
    /// use tower_mirror::route::Labels;
    ///
    /// assert_eq!(Labels::from([("version", "v1"), ("zone", "a")]).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// Shows the pairs, e.g. `Labels({"version": "v1"})`.
impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.map).finish()
    }
}

/// Builds labels from pairs; a repeated key keeps its last value.
impl<K, V, const N: usize> From<[(K, V); N]> for Labels
where
    K: Into<String>,
    V: Into<String>,
{
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// Collects labels from pairs; a repeated key keeps its last value.
impl<K, V> FromIterator<(K, V)> for Labels
where
    K: Into<String>,
    V: Into<String>,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            map: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = LabelsIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Writes `key=value` pairs sorted by key and joined by commas, e.g. `version=v1,zone=a`;
/// no labels write an empty string.
///
/// [`FromStr`] reads this form back, as long as keys hold no `=` or `,`, values hold no `,`,
/// and neither starts or ends with whitespace.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// Parses the [`Display`](fmt::Display) form: `key=value` pairs separated by commas.
///
/// Whitespace around keys and values is ignored, a value may be empty and may contain `=`
/// (the first `=` splits), and an empty string is an empty label set. Empty keys, pairs
/// without `=`, empty pairs (`a=1,,b=2` or a trailing comma) and repeated keys are errors.
///
/// ```
/// use tower_mirror::route::{Labels, LabelsParseError};
///
/// let labels: Labels = "zone=a, version=v1".parse().unwrap();
/// assert_eq!(labels, Labels::from([("version", "v1"), ("zone", "a")]));
/// assert_eq!("".parse::<Labels>().unwrap(), Labels::new());
/// assert!(matches!(
///     "version".parse::<Labels>(),
///     Err(LabelsParseError::MissingEquals { .. })
/// ));
/// ```
impl FromStr for Labels {
    type Err = LabelsParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut labels = Labels::new();
        if s.trim().is_empty() {
            return Ok(labels);
        }
        for pair in s.split(',') {
            if pair.trim().is_empty() {
                return Err(LabelsParseError::EmptyPair {
                    input: s.to_owned(),
                });
            }
            let Some((key, value)) = pair.split_once('=') else {
                return Err(LabelsParseError::MissingEquals {
                    pair: pair.trim().to_owned(),
                });
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(LabelsParseError::EmptyKey {
                    pair: pair.trim().to_owned(),
                });
            }
            if labels.insert(key, value.trim()).is_some() {
                return Err(LabelsParseError::DuplicateKey {
                    key: key.to_owned(),
                });
            }
        }
        Ok(labels)
    }
}

/// Iterator over the `(key, value)` pairs of [`Labels`], sorted by key.
///
/// Made by [`Labels::iter`].
#[derive(Clone, Debug)]
pub struct LabelsIter<'a> {
    inner: btree_map::Iter<'a, String, String>,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for LabelsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner
            .next_back()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl ExactSizeIterator for LabelsIter<'_> {}

/// Why a string is not a valid [`Labels`] form (`key=value,key=value`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelsParseError {
    /// A pair has no `=` between key and value.
    MissingEquals {
        /// The offending pair, trimmed.
        pair: String,
    },
    /// A pair has nothing before its `=`.
    EmptyKey {
        /// The offending pair, trimmed.
        pair: String,
    },
    /// Two commas in a row, or a comma at the start or end.
    EmptyPair {
        /// The whole input.
        input: String,
    },
    /// A key appears more than once.
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
}

impl fmt::Display for LabelsParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEquals { pair } => write!(
                f,
                "label `{pair}` has no `=`: write labels as `key=value` pairs separated by \
                 commas, e.g. `version=v1,zone=a`"
            ),
            Self::EmptyKey { pair } => write!(
                f,
                "label `{pair}` has an empty key: write it as `key=value`, e.g. `version=v1`"
            ),
            Self::EmptyPair { input } => write!(
                f,
                "labels `{input}` contain an empty pair: remove the extra comma (an empty \
                 string means no labels)"
            ),
            Self::DuplicateKey { key } => write!(
                f,
                "label key `{key}` appears more than once: give each key a single value"
            ),
        }
    }
}

impl std::error::Error for LabelsParseError {}
