//! Builds line-located sections for the line-oriented formats (RST, config):
//! entries are appended with their line range as a mark, headings open a new
//! section under the right heading path.

use crate::{Locator, Mark, Section};

#[derive(Debug, Default)]
pub struct LineSections {
    pub sections: Vec<Section>,
    path: Vec<(usize, String)>,
    text: String,
    marks: Vec<Mark>,
    span: Option<(u32, u32)>,
}

impl LineSections {
    /// Appends `body` (source lines `start..=end`), after `separator` unless
    /// it is the section's first entry.
    pub fn entry(&mut self, body: &str, start: u32, end: u32, separator: &str) {
        if body.trim().is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push_str(separator);
        }
        self.marks.push(Mark {
            offset: self.text.len(),
            locator: Locator::Lines { start, end },
        });
        self.text.push_str(body);
        self.span = Some(self.span.map_or((start, end), |(s, _)| (s, end)));
    }

    /// Closes the current section and opens one under `heading` at `level`
    /// (1 = outermost); deeper or equal headings on the path are closed.
    pub fn heading(&mut self, level: usize, heading: &str) {
        self.flush();
        while self.path.last().is_some_and(|(l, _)| *l >= level) {
            self.path.pop();
        }
        self.path.push((level, heading.to_owned()));
    }

    pub fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        let marks = std::mem::take(&mut self.marks);
        let (start, end) = self.span.take().unwrap_or((1, 1));
        if text.trim().is_empty() {
            return;
        }
        let mut s = Section::new(
            self.path.iter().map(|(_, h)| h.clone()).collect(),
            text.trim_end().to_owned(),
            Locator::Lines { start, end },
        );
        s.marks = marks;
        self.sections.push(s);
    }

    pub fn finish(mut self) -> Vec<Section> {
        self.flush();
        self.sections
    }
}
