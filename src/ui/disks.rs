//! Disks pane: per host, its filesystems fullest first: mount, device, size, used, available,
//! use %, inode use %, and a bar styled by the verdict on it (`app::disks::usage_severity`,
//! against the configured marks), dimmed when the data is stale.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::disks::{self, Row, usage_severity};
use crate::app::hosts::HostState;
use crate::app::{App, Pane};
use crate::collect::disks::Filesystem;

pub struct DisksPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// FILESYSTEM, SIZE, USED, AVAIL, USE%, INODE, FULL IN; MOUNT is sized from the width, the bar
/// takes the rest.
const FIXED: [u16; 7] = [16, 5, 5, 5, 4, 5, 7];
const RIGHT: [usize; 6] = [2, 3, 4, 5, 6, 7];

impl Widget for DisksPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let hosts = app.visible_hosts();
        let mut title = vec![Span::styled(" Disks ", theme.title())];
        if let [only] = hosts.as_slice() {
            title.push(Span::styled(format!("· {} ", only.name), theme.accent()));
            title.push(widgets::freshness(&only.disks.freshness(app.now), theme));
            title.push(Span::raw(" "));
        }
        let inner = super::pane_frame(app, theme, title, area, buf);
        let problems: Vec<(String, String)> = hosts
            .iter()
            .filter_map(|h| Some((h.name.clone(), h.disks.error()?.to_owned())))
            .collect();
        let inner = super::notices(&problems, theme, inner, buf);
        if inner.height < 2 {
            return;
        }
        let mount_w = (inner.width * 25 / 100).clamp(12, 32);
        let mut fixed = vec![mount_w];
        fixed.extend(FIXED);
        let w = widgets::widths(inner.width, &fixed);
        let header = [
            "MOUNT",
            "FILESYSTEM",
            "SIZE",
            "USED",
            "AVAIL",
            "USE%",
            "INODE",
            "FULL IN",
            "USAGE",
        ];
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);
        let rows = disks::rows(&hosts, &app.filter_text(Pane::Disks));
        let keys: Vec<_> = rows.iter().map(|(k, _)| k.clone()).collect();
        let selected = (!keys.is_empty()).then(|| app.panes.disks.selection.index(&keys));
        let mut host = None;
        let lines = rows
            .iter()
            .map(|(_, r)| {
                if let Row::Host(h) = r {
                    host = Some(*h);
                }
                self.row(r, &w, host)
            })
            .collect();
        widgets::render_list(lines, selected, list, buf, theme);
    }
}

impl DisksPane<'_> {
    /// `host`: the host the rows under it belong to.
    fn row(&self, row: &Row<'_>, w: &[u16], host: Option<&HostState>) -> Line<'static> {
        match (row, host) {
            (Row::Host(h), _) => self.host_row(h),
            (Row::Disk(fs), Some(h)) => self.disk_row(h, fs, w),
            (Row::Cluster(c), _) => self.cluster_row(c),
            (Row::Disk(_), None) => Line::default(),
        }
    }

    fn host_row(&self, h: &HostState) -> Line<'static> {
        let theme = self.theme;
        let f = widgets::freshness(&h.disks.freshness(self.app.now), theme);
        let mut spans = vec![
            Span::styled(
                format!("▾ {}  ", h.name),
                theme.accent().add_modifier(ratatui::style::Modifier::BOLD),
            ),
            f,
        ];
        if let Some(u) = &h.docker_usage {
            spans.push(Span::raw("   "));
            spans.extend(self.docker_usage(u));
        }
        Line::from(spans)
    }

    /// "Docker: images 3.2G (1.1G unused) · containers 12M · volumes 8.0G · build cache 0B",
    /// with its age (it is read every half hour).
    fn docker_usage(
        &self,
        o: &crate::app::hosts::Observed<crate::collect::docker_usage::DockerUsage>,
    ) -> Vec<Span<'static>> {
        let theme = self.theme;
        let Some(u) = o.latest() else {
            return match o.error() {
                Some(e) => vec![Span::styled(
                    format!("Docker disk use: {}", crate::sanitize::plain(e)),
                    theme.warn(),
                )],
                None => vec![Span::styled("Docker disk use: reading…", theme.muted())],
            };
        };
        let part = |name: &str, x: &crate::collect::docker_usage::Usage| {
            let unused = if x.reclaimable_bytes > 0 {
                format!(" ({} unused)", widgets::bytes(x.reclaimable_bytes))
            } else {
                String::new()
            };
            format!("{name} {}{unused}", widgets::bytes(x.size_bytes))
        };
        let text = [
            part("images", &u.images),
            part("containers", &u.containers),
            part("volumes", &u.volumes),
            part("build cache", &u.build_cache),
        ]
        .join(" · ");
        vec![
            Span::styled(format!("Docker: {text} "), theme.muted()),
            widgets::freshness(&o.freshness(self.app.now), theme),
        ]
    }

    /// A PostgreSQL cluster under the filesystem of its data directory.
    fn cluster_row(&self, c: &crate::app::hosts::Cluster) -> Line<'static> {
        let theme = self.theme;
        let dir = c
            .observed
            .latest()
            .and_then(|s| s.server.data_directory.clone())
            .unwrap_or_default();
        let size = match disks::cluster_size(c) {
            Some((bytes, n)) => format!(
                "{} in {n} database{}",
                widgets::bytes(bytes),
                if n == 1 { "" } else { "s" }
            ),
            None => "size unknown".to_owned(),
        };
        Line::from(vec![
            Span::styled(format!("    └ PostgreSQL {}: ", c.name()), theme.muted()),
            Span::styled(size, theme.text()),
            Span::styled(format!("  {}", crate::sanitize::plain(&dir)), theme.muted()),
        ])
    }

    fn disk_row(&self, h: &HostState, fs: &Filesystem, w: &[u16]) -> Line<'static> {
        let theme = self.theme;
        // A host's filesystems are judged as stale as its last df.
        let stale = h.disks.stale_age(self.app.now).is_some();
        let full_in = match h.growth.forecast(fs, h.disks_interval()) {
            Some(disks::Forecast {
                full_in: Some(d), ..
            }) => Span::styled(
                format!("~{}", widgets::age(d)),
                theme.verdict(disks::full_in_severity(d), stale),
            ),
            Some(_) => Span::styled("flat", theme.muted()),
            None => Span::styled("-", theme.muted()),
        };
        let pct = fs.use_pct();
        let judge = |p: f64| theme.verdict(usage_severity(p, &self.app.thresholds), stale);
        let inode = fs.inode_pct().map_or_else(
            || Span::styled("-", theme.muted()),
            |p| Span::styled(format!("{p:.0}%"), judge(p)),
        );
        let bar_width = usize::from(*w.last().unwrap_or(&4));
        let mut line = columns(
            &w[..w.len() - 1],
            &RIGHT,
            vec![
                Span::styled(format!("  {}", fs.mount), theme.text()),
                Span::styled(fs.device.clone(), theme.muted()),
                Span::raw(widgets::bytes(fs.size_bytes)),
                Span::raw(widgets::bytes(fs.used_bytes)),
                Span::raw(widgets::bytes(fs.avail_bytes)),
                Span::styled(format!("{pct:.0}%"), judge(pct)),
                inode,
                full_in,
            ],
        );
        line.spans.push(Span::raw(" "));
        line.spans
            .extend(widgets::bar(pct, bar_width, judge(pct), theme));
        line
    }
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::render;

    #[test]
    fn disks_80x24() {
        let mut app = fleet_app(1);
        app.pane = Pane::Disks;
        insta::assert_snapshot!(render(&app, 80, 24).backend());
    }

    #[test]
    fn disks_120x40() {
        let mut app = fleet_app(2);
        app.pane = Pane::Disks;
        insta::assert_snapshot!(render(&app, 120, 40).backend());
    }

    #[test]
    fn a_cluster_is_shown_under_the_filesystem_of_its_data() {
        let mut app = fleet_app(1);
        app.hosts[0] = crate::app::disks::tests::pg_on_srv_data();
        app.pane = Pane::Disks;
        let term = render(&app, 120, 40);
        let text: Vec<String> = (0..40)
            .map(|y| {
                (0..120)
                    .map(|x| term.backend().buffer()[(x, y)].symbol())
                    .collect()
            })
            .collect();
        let at = text
            .iter()
            .position(|l| l.contains("└ PostgreSQL main: 37M in 5 databases"))
            .unwrap_or_else(|| panic!("{text:#?}"));
        assert!(text[at - 1].contains("/srv/data "), "{text:#?}");
        assert!(text[at].contains("/srv/data/pg/15/main"), "{text:#?}");
    }

    #[test]
    fn full_disk_bar_is_critical() {
        let mut app = fleet_app(1);
        app.pane = Pane::Disks;
        let term = render(&app, 120, 40);
        let buf = term.backend().buffer();
        let crit = crate::ui::theme::Theme::builtin("dark")
            .unwrap()
            .crit()
            .fg
            .unwrap();
        // The fixture's /srv/data is 95 % full: its bar's first cell is critical.
        let y = (0..40)
            .find(|y| {
                (0..40)
                    .map(|x| buf[(x, *y)].symbol())
                    .collect::<String>()
                    .contains("/srv/data")
            })
            .unwrap();
        let x = (0..120).find(|x| buf[(*x, y)].symbol() == "█").unwrap();
        assert_eq!(buf[(x, y)].fg, crit);
    }
}
