//! `s3://bucket/prefix` URLs.

use std::{fmt, str::FromStr};

use crate::Error;

/// Whether `s` is meant as an S3 URL (starts with `s3://`), so callers can
/// tell it from a local path before parsing it.
pub fn is_s3_url(s: &str) -> bool {
    s.starts_with("s3://")
}

/// A bucket and a key prefix: `s3://bucket/prefix`.
///
/// The prefix has no leading or trailing `/` and may be empty (the whole
/// bucket). Keys are built as `prefix/relative`, so `s3://b/p` and
/// `s3://b/p/` name the same place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Url {
    bucket: String,
    prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<S3Url, Error> {
        let bad = |reason: &str| Error::InvalidUrl { url: url.to_owned(), reason: reason.to_owned() };
        let rest = url.strip_prefix("s3://").ok_or_else(|| bad("expected s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's bucket naming rules, loosely: what they allow is a subset of
        // this, and anything outside it cannot be a bucket anywhere.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(bad("the bucket name must be 3-63 lowercase letters, digits, '.' or '-'"));
        }
        let prefix = prefix.trim_matches('/');
        // Empty, `.` and `..` segments would be normalized away (or
        // refused) by the client, and a key must mean one object.
        if !prefix.is_empty() && prefix.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(bad("the prefix has an empty, '.' or '..' segment"));
        }
        if prefix.chars().any(|c| c.is_control()) {
            return Err(bad("the prefix has control characters"));
        }
        Ok(S3Url { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix, without leading or trailing `/` (empty: the bucket's root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of `relative` (a `/`-separated path) under the prefix.
    pub fn key(&self, relative: &str) -> String {
        let relative = relative.trim_start_matches('/');
        if self.prefix.is_empty() {
            relative.to_owned()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }

    /// The URL of `key` in the same bucket.
    pub fn with_key(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl FromStr for S3Url {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        S3Url::parse(s)
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let u = S3Url::parse("s3://market-data/prod/eu").unwrap();
        assert_eq!((u.bucket(), u.prefix()), ("market-data", "prod/eu"));
        assert_eq!(u.key("coinbase/2026/01/02/03-0.jsonl.zst"), "prod/eu/coinbase/2026/01/02/03-0.jsonl.zst");
        assert_eq!(u.to_string(), "s3://market-data/prod/eu");
        assert_eq!(S3Url::parse("s3://market-data/prod/eu/").unwrap(), u, "a trailing slash changes nothing");
        let root = S3Url::parse("s3://market-data").unwrap();
        assert_eq!((root.prefix(), root.key("a/b")), ("", "a/b".to_owned()));
        assert_eq!(root, S3Url::parse("s3://market-data/").unwrap());
        assert_eq!(root.to_string(), "s3://market-data");
        assert_eq!(root.with_key("x/y"), "s3://market-data/x/y");
    }

    #[test]
    fn refuses_what_is_not_a_bucket_and_prefix() {
        for bad in [
            "market-data/x",
            "s3://",
            "s3://ab",
            "s3://Upper/x",
            "s3://a_b_c/x",
            "s3://-abc/x",
            "s3://abc/x//y",
            "s3://abc/../y",
            "file:///x",
        ] {
            let err = S3Url::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "the message names the URL: {err}");
        }
        assert!(is_s3_url("s3://b/p") && !is_s3_url("./s3/file.jsonl"));
    }
}
