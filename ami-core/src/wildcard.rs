//! The one wildcard language AWS uses for image name filters (`DescribeImages` filter values),
//! IAM `StringLike` conditions (`aws:PrincipalOrgPaths`) and recipe parent-image patterns:
//! `*` matches any run of characters (none included) and `?` exactly one character.

/// Whether `text` matches `pattern` in full (`*`: any run of characters, `?`: any one
/// character; every other character stands for itself, case-sensitive).
///
/// ```
/// use ami_core::wildcard::matches;
/// assert!(matches("al2023-ami-*-x86_64", "al2023-ami-2023.6-x86_64"));
/// assert!(matches("o-abc/r-ab12/*ou-ab12-apps/*", "o-abc/r-ab12/ou-ab12-apps/"));
/// assert!(!matches("a?c", "ac"));
/// ```
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it is tried from: on a mismatch, let that `*`
    // swallow one more character and try again (linear backtracking, no recursion).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn table() {
        for (pattern, text, want) in [
            ("al2023-*", "al2023-ami-1", true),
            ("al2023-*", "al2-ami", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("*x86_64", "al2023-ami-2023.1-x86_64", true),
            ("a*b*c", "a-b-b-c", true),
            ("a*b*c", "a-b-b-d", false),
            ("exact", "exact", true),
            ("Exact", "exact", false),
            ("o-a/*ou-b/*", "o-a/r-1/ou-b/", true),
            ("o-a/*ou-b/*", "o-a/r-1/ou-c/ou-b/ou-d/", true),
            ("o-a/*ou-b/*", "o-a/r-1/ou-bb/", false),
            ("o-a/r-?/*", "o-a/r-12/", false),
        ] {
            assert_eq!(matches(pattern, text), want, "{pattern:?} vs {text:?}");
        }
    }

    proptest::proptest! {
        /// A pattern without wildcards matches exactly itself; `*` matches everything; a text
        /// always matches itself with any one character replaced by `?`.
        #[test]
        fn literal_star_and_question_mark(text in "[a-c/-]{0,12}", at in 0usize..12) {
            proptest::prop_assert!(matches(&text, &text));
            proptest::prop_assert!(matches("*", &text));
            let mut q: Vec<char> = text.chars().collect();
            if !q.is_empty() {
                let i = at % q.len();
                q[i] = '?';
                let q: String = q.into_iter().collect();
                proptest::prop_assert!(matches(&q, &text));
                let longer = format!("{text}x");
                proptest::prop_assert!(!matches(&text, &longer));
            }
        }
    }
}
