"""Tokenizer for the expr-lang subset used in `{{= ...}}` tags and `expression:` fields."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import ExpressionError

WORD_OPERATORS = frozenset(
    {"not", "and", "or", "in", "matches", "contains", "startsWith", "endsWith"}
)
_SYMBOLS = (
    "??", "?.", "...", "..", "**", "==", "!=", "<=", ">=", "&&", "||",
    "?", ":", ".", ",", "*", "/", "%", "^", "+", "-", "<", ">", "!", "|", "#", ";", "=",
)  # fmt: skip
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?"
)
_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`",
    "a": "\a", "b": "\b", "f": "\f", "v": "\v", "0": "\0",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Token:
    """One lexeme; `kind` is number, string, ident, op, bracket or eof."""

    kind: str
    value: object
    pos: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, with positions for error messages."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ExpressionError("unclosed comment", text, i)
            i = end + 2
        elif ch.isdigit() or (
            ch == "." and text[i + 1 : i + 2].isdigit() and not _after_value(tokens)
        ):
            match = _NUMBER.match(text, i)
            assert match is not None
            tokens.append(Token("number", _number(match.group(), text, i), i, match.end()))
            i = match.end()
        elif ch in "'\"":
            value, end = _quoted(text, i)
            tokens.append(Token("string", value, i, end))
            i = end
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ExpressionError("unclosed raw string (backtick)", text, i)
            tokens.append(Token("string", text[i + 1 : end], i, end + 1))
            i = end + 1
        elif ch.isalpha() or ch in "_$":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_$"):
                i += 1
            word = text[start:i]
            kind = "op" if word in WORD_OPERATORS else "ident"
            tokens.append(Token(kind, word, start, i))
        elif ch in "()[]{}":
            tokens.append(Token("bracket", ch, i, i + 1))
            i += 1
        else:
            symbol = next((s for s in _SYMBOLS if text.startswith(s, i)), None)
            if symbol is None or symbol == "...":
                raise ExpressionError(f"unexpected character {ch!r}", text, i)
            if symbol == "?." and text[i + 2 : i + 3].isdigit():
                symbol = "?"  # `c ?.5 : 1` is a ternary, not optional chaining
            tokens.append(Token("op", symbol, i, i + len(symbol)))
            i += len(symbol)
    tokens.append(Token("eof", None, n, n))
    return tokens


def _after_value(tokens: list[Token]) -> bool:
    """A '.' right after a value is member access (`a.b`), not the start of `.5`."""
    if not tokens:
        return False
    last = tokens[-1]
    return last.kind in ("ident", "number", "string") or last.value in (")", "]", "}")


def _number(raw: str, text: str, pos: int) -> int | float:
    clean = raw.replace("_", "")
    try:
        lowered = clean.lower()
        if lowered.startswith(("0x", "0b", "0o")):
            return int(clean, 0)
        if any(c in lowered for c in ".e"):
            return float(clean)
        return int(clean, 10)
    except ValueError:
        raise ExpressionError(f"invalid number literal {raw!r}", text, pos) from None


def _quoted(text: str, start: int) -> tuple[str, int]:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = text[i + 1 : i + 2]
        if esc in _SIMPLE_ESCAPES and not (esc == "0" and text[i + 2 : i + 3].isdigit()):
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ExpressionError(f"invalid \\{esc} escape in string", text, i)
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif re.fullmatch(r"[0-7]{3}", text[i + 1 : i + 4]):
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise ExpressionError(f"invalid escape sequence '\\{esc}' in string", text, i)
    raise ExpressionError(f"unclosed string literal starting with {quote}", text, start)
