//! A text table fitted into a terminal's width: columns shrink in a given order, and cut cells end in `…`.

/// Two spaces between columns.
const GAP: usize = 2;

/// How a table may shrink: each column's narrowest width, and the order columns give up space in (the least
/// needed first).
pub struct Shrink<const N: usize> {
    pub min: [usize; N],
    pub order: [usize; N],
}

/// Renders `header` and `rows` as aligned columns. With `width`, every line fits in it: columns shrink in
/// `shrink.order`, each at most down to its `min`, and a cut cell ends in `…`. Without `width` (`--wide`), nothing
/// is cut. The last column is not padded; trailing spaces are trimmed.
pub fn render<const N: usize>(
    header: [&str; N],
    rows: &[[String; N]],
    shrink: &Shrink<N>,
    width: Option<usize>,
    bold: impl Fn(&str) -> String,
) -> String {
    let natural = natural_widths(&header, rows);
    let widths = match width {
        Some(w) => fit(natural, shrink, w),
        None => natural,
    };
    let line = |cells: [&str; N]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let cell = cut(cell, widths[i]);
            let pad = widths[i].saturating_sub(cell.chars().count());
            s.push_str(&cell);
            if i + 1 < N {
                s.push_str(&" ".repeat(pad + GAP));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&bold(&line(header)));
    out.push('\n');
    for row in rows {
        out.push_str(&line(std::array::from_fn(|i| row[i].as_str())));
        out.push('\n');
    }
    out
}

fn natural_widths<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> [usize; N] {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    widths
}

/// Column widths whose line (with the gaps) fits `width`, or as close as the minimums allow (a line then
/// overflows rather than lose what a minimum protects).
fn fit<const N: usize>(mut widths: [usize; N], shrink: &Shrink<N>, width: usize) -> [usize; N] {
    let total = widths.iter().sum::<usize>() + GAP * N.saturating_sub(1);
    let mut excess = total.saturating_sub(width);
    for &i in &shrink.order {
        let give = excess.min(widths[i].saturating_sub(shrink.min[i]));
        widths[i] -= give;
        excess -= give;
    }
    widths
}

/// `cell` in at most `width` characters, its end replaced by `…` when cut.
pub fn cut(cell: &str, width: usize) -> String {
    if cell.chars().count() <= width {
        return cell.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = cell.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<[String; 3]> {
        vec![[
            "4242".to_string(),
            "nvidia-persistenced.service".to_string(),
            format!("/usr/bin/python3 train.py {}", "--flag ".repeat(30)),
        ]]
    }

    const SHRINK: Shrink<3> = Shrink {
        min: [3, 8, 10],
        order: [1, 2, 0],
    };

    #[test]
    fn every_line_fits_the_width_and_cut_cells_end_in_an_ellipsis() {
        for width in [40, 60, 80, 120] {
            let t = render(
                ["PID", "WHAT", "COMMAND"],
                &rows(),
                &SHRINK,
                Some(width),
                str::to_string,
            );
            for line in t.lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            assert!(t.lines().nth(1).unwrap().ends_with('…'), "{t}");
            assert!(t.contains("4242"), "the pid is never cut: {t}");
        }
    }

    #[test]
    fn without_a_width_nothing_is_cut() {
        let t = render(
            ["PID", "WHAT", "COMMAND"],
            &rows(),
            &SHRINK,
            None,
            str::to_string,
        );
        assert!(!t.contains('…'), "{t}");
        assert!(t.contains(&rows()[0][2].trim_end().to_string()), "{t}");
    }

    #[test]
    fn columns_shrink_in_order_and_minimums_hold() {
        // WHAT gives up to its minimum first, then COMMAND.
        assert_eq!(fit([4, 30, 100], &SHRINK, 80), [4, 8, 64]);
        assert_eq!(fit([4, 30, 20], &SHRINK, 60), [4, 30, 20]);
        assert_eq!(fit([4, 30, 20], &SHRINK, 50), [4, 22, 20]);
        // Too narrow for the minimums: they are kept (the line overflows rather than lose the pid).
        let keep_pid = Shrink {
            min: [4, 8, 10],
            order: [1, 2, 0],
        };
        assert_eq!(fit([4, 30, 100], &keep_pid, 10), [4, 8, 10]);
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut("ab", 0), "");
    }
}
