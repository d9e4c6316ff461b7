"""Reading the session page in tests: balanced tags, its text, the cells of a table."""

from html.parser import HTMLParser

VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                 "source", "track", "wbr"}


class TagBalance(HTMLParser):
    """Collects mismatched tags and the page text (html.parser itself never fails)."""

    def __init__(self):
        super().__init__()
        self.open, self.problems, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:]}")
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text):
    """Parse ``text`` and return the page's text; fails on unbalanced tags."""
    parser = TagBalance()
    parser.feed(text)
    parser.close()
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert parser.problems == [] and parser.open == []
    return "".join(parser.text)


class TableCells(HTMLParser):
    """The body rows (lists of cell texts) of the first table with a given class."""

    def __init__(self, css_class):
        super().__init__()
        self.css_class, self.rows, self.state = css_class, [], "before"

    def handle_starttag(self, tag, attrs):
        if tag == "table" and self.state == "before" and \
                self.css_class in (dict(attrs).get("class") or "").split():
            self.state = "table"
        elif self.state == "table" and tag == "tbody":
            self.state = "body"
        elif self.state == "body" and tag == "tr":
            self.rows.append([])
        elif self.state == "body" and tag == "td":
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table" and self.state == "body":
            self.state = "done"

    def handle_data(self, data):
        if self.state == "body" and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def table_rows(html, css_class):
    """Cell texts of each body row of the first ``<table class="css_class">``."""
    parser = TableCells(css_class)
    parser.feed(html)
    return parser.rows
