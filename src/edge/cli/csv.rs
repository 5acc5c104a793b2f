//! The CSV files the commands import (`domains import`, `orders import`): a header line
//! naming the columns, then one record a line (RFC 4180 quoting); blank lines and lines
//! starting with `#` are skipped. Problems name the line.

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
    records: Vec<(usize, Vec<String>)>,
}

/// One record of a [`Table`].
pub(crate) struct Record<'t> {
    table: &'t Table,
    /// Its line number in the file (1-based).
    pub line: usize,
    fields: &'t [String],
}

impl Table {
    /// Parses `text`, whose header may name only `known` columns and must name every
    /// `required` one.
    pub fn parse(text: &str, known: &[&str], required: &[&str]) -> Result<Table, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
        let Some((_, header)) = lines.next() else {
            return Err(format!(
                "empty file: expected a header line such as {}",
                required.join(",")
            ));
        };
        let columns: Vec<String> = fields(header)?
            .into_iter()
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
            .map(|(index, line)| {
                fields(line)
                    .map(|fields| (index + 1, fields))
                    .map_err(|e| format!("line {}: {e}", index + 1))
            })
            .collect::<Result<_, _>>()?;
        Ok(Table { columns, records })
    }

    /// The records, in file order.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.records.iter().map(|(line, fields)| Record {
            table: self,
            line: *line,
            fields,
        })
    }
}

impl Record<'_> {
    /// The trimmed value of `column`, `None` when the column is absent or the value empty.
    pub fn get(&self, column: &str) -> Option<String> {
        let position = self.table.columns.iter().position(|c| c == column)?;
        self.fields
            .get(position)
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
    }

    /// `line N: message`.
    pub fn problem(&self, message: impl std::fmt::Display) -> String {
        format!("line {}: {message}", self.line)
    }
}

/// The fields of one CSV line (RFC 4180: commas, double quotes, `""` inside quotes).
pub(crate) fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_rfc_4180() {
        assert_eq!(fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            fields(r#"pec.x.it,"Rossi, Mario","say ""ciao""""#).unwrap(),
            ["pec.x.it", "Rossi, Mario", r#"say "ciao""#]
        );
        assert!(fields(r#"a,"open"#).is_err());
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
