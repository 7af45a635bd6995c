//! A task's kind label: most are the same few words, so those are not counted per task.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The label in a task's kind column: a `&'static str` as is (the built-in kinds, most user
/// labels), anything else shared.
/// Two labels are equal when their text is, however each is held.
#[derive(Clone, Debug)]
pub struct Label(Repr);

#[derive(Clone, Debug)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Deref for Label {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self)
    }
}

impl From<&'static str> for Label {
    fn from(s: &'static str) -> Self {
        Label(Repr::Static(s))
    }
}

impl From<String> for Label {
    fn from(s: String) -> Self {
        Label(Repr::Shared(s.into()))
    }
}

impl From<Arc<str>> for Label {
    fn from(s: Arc<str>) -> Self {
        Label(Repr::Shared(s))
    }
}

impl PartialEq for Label {
    /// The same text held at the same place (a task's kind and its metrics group's, at every
    /// event counted) is equal without reading it.
    fn eq(&self, other: &Self) -> bool {
        let (mine, theirs): (&str, &str) = (self, other);
        std::ptr::eq(mine, theirs) || mine == theirs
    }
}

impl Eq for Label {}

impl std::hash::Hash for Label {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl Label {
    /// The label as a metrics label's value, without a copy.
    #[cfg(feature = "metrics")]
    pub(crate) fn metric_value(&self) -> metrics::SharedString {
        match &self.0 {
            Repr::Static(s) => metrics::SharedString::const_str(s),
            Repr::Shared(s) => metrics::SharedString::from_shared(s.clone()),
        }
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        self
    }
}

#[cfg(feature = "serve")]
impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

#[cfg(feature = "serve")]
impl<'de> serde::Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Label::from(String::deserialize(deserializer)?))
    }
}
