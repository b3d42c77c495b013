//! robots.txt (RFC 9309): the group for our user agent (or `*`), `Allow` /
//! `Disallow` with `*` and `$`, the longest match winning and `Allow` winning
//! ties, plus the `Crawl-delay` and `Sitemap` extensions.

use super::urls::wildcard_match;

/// A group of robots.txt: the user agents it names, its rules, its delay.
#[derive(Debug, Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<(bool, String)>,
    delay: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Robots {
    /// (allow, path pattern) of the group that applies to us.
    rules: Vec<(bool, String)>,
    pub crawl_delay: Option<f64>,
    pub sitemaps: Vec<String>,
}

impl Robots {
    /// Everything allowed (no robots.txt, or a 4xx for it).
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// Parses a robots.txt for the product token `agent` (e.g. `quarry`).
    pub fn parse(text: &str, agent: &str) -> Self {
        let agent = agent.to_ascii_lowercase();
        // Groups: the user agents they name and their rules.
        let mut groups: Vec<Group> = Vec::new();
        let mut sitemaps = Vec::new();
        let mut in_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if !in_agents {
                        groups.push(Group::default());
                    }
                    in_agents = true;
                    if let Some(g) = groups.last_mut() {
                        g.agents.push(value.to_ascii_lowercase());
                    }
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    if let Some(g) = groups.last_mut() {
                        // An empty Disallow allows everything: no rule.
                        if !value.is_empty() {
                            g.rules.push((key == "allow", value.to_owned()));
                        }
                    }
                }
                "crawl-delay" => {
                    in_agents = false;
                    if let (Some(g), Ok(d)) = (groups.last_mut(), value.parse::<f64>())
                        && d.is_finite()
                        && d >= 0.0
                    {
                        g.delay = Some(d);
                    }
                }
                "sitemap" => sitemaps.push(value.to_owned()),
                _ => {}
            }
        }
        // Our own group if one names us, otherwise the `*` groups.
        let named: Vec<_> = groups
            .iter()
            .filter(|g| {
                g.agents
                    .iter()
                    .any(|a| a != "*" && !a.is_empty() && agent.starts_with(a.as_str()))
            })
            .collect();
        let chosen: Vec<_> = if named.is_empty() {
            groups
                .iter()
                .filter(|g| g.agents.iter().any(|a| a == "*"))
                .collect()
        } else {
            named
        };
        Self {
            rules: chosen
                .iter()
                .flat_map(|g| g.rules.iter().cloned())
                .collect(),
            crawl_delay: chosen.iter().find_map(|g| g.delay),
            sitemaps,
        }
    }

    /// Whether the path-and-query `path` may be fetched; `Err` carries the
    /// matching `Disallow` rule.
    pub fn check(&self, path: &str) -> Result<(), String> {
        let mut best: Option<(usize, bool, &str)> = None;
        for (allow, pattern) in &self.rules {
            if wildcard_match(pattern.as_bytes(), path.as_bytes(), false) {
                let len = pattern.len();
                let better = match best {
                    None => true,
                    Some((l, a, _)) => len > l || (len == l && *allow && !a),
                };
                if better {
                    best = Some((len, *allow, pattern));
                }
            }
        }
        match best {
            Some((_, false, rule)) => Err(format!("Disallow: {rule}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_rules_and_extensions() {
        let txt = "User-agent: *\nDisallow: /private/\nDisallow: /*.cgi$\nAllow: /private/open\nCrawl-delay: 0.5\n\n\
                   User-agent: otherbot\nDisallow: /\n\nSitemap: https://x.com/sitemap.xml\n";
        let r = Robots::parse(txt, "quarry");
        assert!(r.check("/docs/a").is_ok());
        assert_eq!(r.check("/private/x"), Err("Disallow: /private/".into()));
        assert!(r.check("/private/open/doc").is_ok());
        assert!(r.check("/run.cgi").is_err());
        assert!(r.check("/run.cgi?x=1").is_ok());
        assert_eq!(r.crawl_delay, Some(0.5));
        assert_eq!(r.sitemaps, ["https://x.com/sitemap.xml"]);
        let ours = Robots::parse(
            "User-agent: *\nDisallow: /\n\nUser-agent: quarry\nDisallow: /tmp\n",
            "quarry/0.1",
        );
        assert!(ours.check("/docs").is_ok());
        assert!(ours.check("/tmp/x").is_err());
        assert!(
            Robots::parse("User-agent: *\nDisallow:\n", "quarry")
                .check("/x")
                .is_ok()
        );
    }
}
