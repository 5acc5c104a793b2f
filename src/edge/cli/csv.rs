//! The CSV files the commands import (`domains import`, `orders import`): a header line
//! naming the columns, then one record a line (RFC 4180 quoting, read by the `csv`
//! crate); blank lines and lines starting with `#` are skipped. Problems name the line.

use csv::{ReaderBuilder, StringRecord};

/// The text of `file`, or of standard input for `-`.
pub(crate) fn read(file: &str) -> Result<String, String> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    text.map_err(|e| format!("cannot read {file}: {e}"))
}

/// The columns about the holder and the certification, shared by `domains import` and
/// `orders import` (after their own name columns).
pub(crate) const HOLDER_COLUMNS: [&str; 6] = [
    "holder_email",
    "holder_name",
    "lang",
    "reseller",
    "profile",
    "expires",
];

/// A parsed file: its columns and its records.
pub(crate) struct Table {
    columns: Vec<String>,
    /// `(line number, fields)`.
    records: Vec<(usize, StringRecord)>,
}

/// One record of a [`Table`].
pub(crate) struct Record<'t> {
    table: &'t Table,
    /// Its line number in the file (1-based).
    pub line: usize,
    fields: &'t StringRecord,
}

impl Table {
    /// Parses `text`, whose header may name only `known` columns and must name every
    /// `required` one.
    pub(super) fn parse(text: &str, known: &[&str], required: &[&str]) -> Result<Table, String> {
        let mut lines = records(text);
        let Some(header) = lines.next() else {
            return Err(format!(
                "empty file: expected a header line such as {}",
                required.join(",")
            ));
        };
        let (_, header) = header.map_err(|(line, e)| format!("line {line}: {e}"))?;
        let columns: Vec<String> = header
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        if let Some(unknown) = columns.iter().find(|c| !known.contains(&c.as_str())) {
            return Err(format!(
                "unknown column {unknown:?} (columns: {})",
                known.join(", ")
            ));
        }
        if required.iter().any(|r| !columns.iter().any(|c| c == r)) {
            return Err(format!(
                "the header must name the columns {}",
                required.join(" and ")
            ));
        }
        let records = lines
            .map(|record| record.map_err(|(line, e)| format!("line {line}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Table { columns, records })
    }

    /// The records, in file order.
    pub(super) fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.records.iter().map(|(line, fields)| Record {
            table: self,
            line: *line,
            fields,
        })
    }
}

impl Record<'_> {
    /// The trimmed value of `column`, `None` when the column is absent or the value empty.
    pub(super) fn get(&self, column: &str) -> Option<String> {
        let position = self.table.columns.iter().position(|c| c == column)?;
        self.fields
            .get(position)
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
    }

    /// `line N: message`.
    pub(super) fn problem(&self, message: impl std::fmt::Display) -> String {
        format!("line {}: {message}", self.line)
    }
}

/// The records of `text` with their line numbers, read by the `csv` crate (RFC 4180:
/// commas, double quotes, `""` inside quotes; a UTF-8 byte order mark is skipped).
/// Blank lines and `#` comments are skipped; a record is one line, so a quoted field
/// still open at the end of its line is an error (`(line, message)`): a line break has no
/// place in any value imported.
fn records(text: &str) -> impl Iterator<Item = Result<(usize, StringRecord), (usize, String)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut lines = Lines {
        text,
        at: 0,
        line: 1,
    };
    let mut record = StringRecord::new();
    std::iter::from_fn(move || {
        loop {
            let after_previous = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
            let read = reader.read_record(&mut record);
            let line = lines.of_record_after(after_previous);
            match read {
                Ok(false) => return None,
                Err(error) => return Some(Err((line, error.to_string()))),
                Ok(true) => {}
            }
            let first = record.get(0).unwrap_or_default();
            let blank = record.len() <= 1 && first.trim().is_empty();
            if blank || first.trim_start().starts_with('#') {
                continue;
            }
            // A quote still open runs to the next line, or to the end of the file (then
            // the record's text holds an odd number of quotes).
            let end = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
            let open_at_end = !text.ends_with('\n')
                && end >= text.len()
                && text[lines.at.min(text.len())..].matches('"').count() % 2 == 1;
            if open_at_end || record.iter().any(|field| field.contains('\n')) {
                return Some(Err((line, "unterminated quoted field".to_owned())));
            }
            return Some(Ok((line, record.clone())));
        }
    })
}

/// Line numbers of a text read from start to end (the `csv` reader's own count is where
/// the previous record ended, before the blank and comment lines it skips).
struct Lines<'t> {
    text: &'t str,
    /// How far the lines are counted.
    at: usize,
    /// The line `at` is on (1-based).
    line: usize,
}

impl Lines<'_> {
    /// The line a record starts on, the previous one having ended at byte `from`: past
    /// the line breaks and the `#` lines that the reader skips there.
    fn of_record_after(&mut self, from: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut start = from.min(bytes.len());
        loop {
            match bytes.get(start) {
                Some(b'\n' | b'\r') => start += 1,
                Some(b'#') => {
                    start = bytes[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len(), |end| start + end + 1);
                }
                _ => break,
            }
        }
        if start >= self.at {
            self.line += bytes[self.at..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.at = start;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_rfc_4180() {
        let table = Table::parse(
            "\u{feff}a,b,c,d\r\nx,\"Rossi, Mario\",\"say \"\"ciao\"\"\"\r\n  \r\n  # note\r\ny,,\n",
            &["a", "b", "c", "d"],
            &["a"],
        )
        .unwrap();
        let records: Vec<Record> = table.records().collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].line, 2);
        assert_eq!(records[0].get("b").as_deref(), Some("Rossi, Mario"));
        assert_eq!(records[0].get("c").as_deref(), Some(r#"say "ciao""#));
        assert_eq!(records[0].get("d"), None);
        assert_eq!(records[1].line, 5);
        assert_eq!(records[1].get("a").as_deref(), Some("y"));
        let open = |text| Table::parse(text, &["a"], &["a"]).err().unwrap();
        assert_eq!(
            open("a\nok\n\"open\nnext\n"),
            "line 3: unterminated quoted field"
        );
        assert_eq!(open("a\nok\n\"open"), "line 3: unterminated quoted field");
        assert_eq!(open("\"a\n"), "line 1: unterminated quoted field");
    }

    #[test]
    fn tables_name_their_lines_and_columns() {
        let table = Table::parse(
            "# orders\nName,Holder_Email\n\npec.a.it , a@a.it\n#x\npec.b.it\n",
            &["name", "holder_email", "lang"],
            &["name", "holder_email"],
        )
        .unwrap();
        let records: Vec<Record> = table.records().collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].line, 4);
        assert_eq!(records[0].get("name").as_deref(), Some("pec.a.it"));
        assert_eq!(records[0].get("holder_email").as_deref(), Some("a@a.it"));
        assert_eq!(records[0].get("lang"), None);
        assert_eq!(records[1].get("holder_email"), None);
        assert_eq!(records[1].problem("bad"), "line 6: bad");
        let error = |text| Table::parse(text, &["name"], &["name"]).err().unwrap();
        assert!(error("").contains("empty file"));
        assert!(error("name,other\n").contains("unknown column \"other\""));
        assert!(error("name\n\"x\n").contains("line 2"));
        let missing = Table::parse("lang\n", &["name", "lang"], &["name"])
            .err()
            .unwrap();
        assert!(missing.contains("must name the columns name"), "{missing}");
    }
}
