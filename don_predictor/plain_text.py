"""User-supplied text (file names, ids, lots, user names, reasons) shown as what it is, never as markup.

A name like `[Session expired](https:evil.example).csv` must not become a link on a page, and `lot\u202efdp.exe` must
not read as `lotexe.pdf`: invisible and direction-changing characters are shown as their escape (`\u202e`).
"""

from __future__ import annotations

import re
import unicodedata

# Format characters (zero-width, direction marks and overrides, BOM), controls, line and paragraph separators and
# every space but the plain one: they hide or reorder what a reader sees.
_HIDDEN_CATEGORIES = {"Cf", "Cc", "Co", "Cn", "Zl", "Zp", "Zs"}
# What makes Markdown of text: links and images ([ ] ( ) !), autolinks (< : . @ for https://, www. and e-mails),
# emphasis and code (* _ ~ `), HTML and entities (< > &), Streamlit's :color[...] and :material/...: directives,
# $math$, and what starts a heading, list, quote or table (# + - > |). Quotes, slashes and the like stay as they are.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&@])")


def is_hidden(character: str) -> bool:
    return character != " " and unicodedata.category(character) in _HIDDEN_CATEGORIES


def hidden_characters(text: str) -> list[str]:
    """The invisible or direction-changing characters of `text`, as escapes: ['\\u200b', ...]."""
    return [_escape(c) for c in dict.fromkeys(text) if is_hidden(c)]


def visible(text: object) -> str:
    """`text` with every hidden character written as its escape (`ab\\u200bc`); other text unchanged."""
    text = "" if text is None else str(text)
    if not any(is_hidden(c) for c in text):
        return text
    return "".join(_escape(c) if is_hidden(c) else c for c in text)


def visible_text(frame):
    """A copy of a DataFrame with every text cell (ids, lots, names) made visible; other cells unchanged."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object or str(out[name].dtype) in ("string", "str"):
            out[name] = [visible(v) if isinstance(v, str) else v for v in out[name]]
    return out


def markdown_literal(text: object) -> str:
    """`text` to put inside Markdown (st.markdown, st.caption, st.error, ...): visible, and every punctuation mark
    backslash-escaped (CommonMark allows it for any ASCII punctuation), so nothing in it is a link, emphasis,
    HTML or a Streamlit directive (`:red[...]`, `:material/...:`)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", visible(text))


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
