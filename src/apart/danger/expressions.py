"""The rule expression language: a tiny tokenizer and recursive-descent parser.

Nothing here calls ``eval``, ``exec`` or ``ast``: text becomes a small tree of
the nodes below, and only :mod:`apart.danger.evaluation` gives them meaning.
The language, by precedence (loosest first)::

    or  ·  and  ·  not  ·  < <= > >= == !=  ·  + -  ·  * /  ·  unary -  ·  atoms

Atoms are numbers (``90``, ``0.5``), ``true``/``false``, quoted text
(``"war"``), parentheses, calls of :data:`FUNCTIONS` and variable references:

* ``tension`` -- a global variable;
* ``agent.trust`` -- an agent variable of *each* agent (the rule is checked per agent);
* ``agent["Helix Labs"].trust`` -- an agent variable of one named agent;
* ``prices.gpu`` -- a key of a mapping (``dict``) variable.

Comparisons do not chain (``0 < x < 5`` is an error that says how to write it).
Errors are :class:`ExpressionError` with the 1-based column of the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

#: the functions a rule may call, with (min, max) argument counts
FUNCTIONS: dict[str, tuple[int, int]] = {
    "abs": (1, 1),
    "delta": (1, 1),
    "prev": (1, 1),
    "len": (1, 1),
    "min": (2, 8),
    "max": (2, 8),
}
#: the functions whose argument must be a variable (they look at its previous value)
CHANGE_FUNCTIONS = frozenset({"delta", "prev"})
KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
#: longer rules are refused (they are conditions, not programs)
MAX_LENGTH = 1000
#: parentheses, calls and ``not`` nest at most this deep
MAX_DEPTH = 40

#: what a mistaken symbol probably meant
_SYMBOL_HINTS = {
    "&": "write 'and' instead of '&&'",
    "|": "write 'or' instead of '||'",
    "!": "write 'not' instead of '!'",
    "=": "write '==' to compare",
}
_WORD_HINTS = {
    "True": "true", "False": "false", "AND": "and", "OR": "or", "NOT": "not",
    "And": "and", "Or": "or", "Not": "not", "TRUE": "true", "FALSE": "false",
}


class ExpressionError(ValueError):
    """A rule that cannot be parsed (``syntax``) or does not fit the scenario's variables.

    ``column`` is 1-based (0: the rule as a whole); ``hint`` says how to fix it.
    ``str()`` reads ``syntax error at column 9: expected a value, found 'and'`` or,
    for a rule that parses, just the problem (``unknown variable 'tension2' ...``).
    """

    def __init__(self, message: str, column: int = 0, hint: str = "", *,
                 syntax: bool = True) -> None:
        self.message = message
        self.column = column
        self.hint = hint
        self.syntax = syntax
        super().__init__(self.describe())

    def describe(self) -> str:
        if not self.syntax:
            return self.message
        where = f" at column {self.column}" if self.column else ""
        return f"syntax error{where}: {self.message}"


# ------------------------------------------------------------------- tokens

TokenKind = Literal["number", "string", "name", "op", "end"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    column: int  # 1-based
    value: float | str | None = None


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ".",
              ",")


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the rule is longer than {MAX_LENGTH} characters", 0,
                              "split it into several rules")
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        token = _token_at(text, index)
        tokens.append(token)
        index += len(token.text)
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _token_at(text: str, index: int) -> Token:
    column = index + 1
    char = text[index]
    if char in "\"'":
        return _string_at(text, index)
    number = _NUMBER.match(text, index)
    if number and not (char == "." and _NAME.match(text, index + 1)):
        if _NAME.match(text, number.end()):
            raise ExpressionError("a name cannot start with a digit", column,
                                  "variable names start with a letter or _")
        return Token("number", number.group(), column, float(number.group()))
    name = _NAME.match(text, index)
    if name and name.group().startswith("__"):
        raise ExpressionError(f"names starting with '__' are not allowed ('{name.group()}')",
                              column, "rules read scenario variables only; rename the variable")
    if name:
        return Token("name", name.group(), column)
    for op in _OPERATORS:
        if text.startswith(op, index):
            return Token("op", op, column)
    hint = _SYMBOL_HINTS.get(char, "rules use numbers, names, comparisons, and/or/not, "
                                   "+ - * / and parentheses")
    raise ExpressionError(f"unexpected character {char!r}", column, hint)


def _string_at(text: str, index: int) -> Token:
    quote = text[index]
    chars: list[str] = []
    position = index + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            chars.append(text[position + 1])
            position += 2
            continue
        if char == quote:
            raw = text[index : position + 1]
            return Token("string", raw, index + 1, "".join(chars))
        chars.append(char)
        position += 1
    raise ExpressionError("text is not closed", index + 1, f"end the text with {quote}")


# --------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Const:
    """A number, ``true``/``false`` or quoted text."""

    value: float | bool | str
    column: int


@dataclass(frozen=True)
class Var:
    """A variable: global (``agent_name`` unused) or of an agent.

    ``scope == "agent"`` with ``agent_name is None`` means *each* agent: the
    rule is evaluated once per agent. ``keys`` index into a mapping variable.
    """

    scope: Literal["global", "agent"]
    name: str
    agent_name: str | None
    keys: tuple[str, ...]
    column: int

    def spelled(self, agent: str | None = None) -> str:
        """How the reference reads, with ``agent`` for the per-agent form."""
        if self.scope == "global":
            base = self.name
        else:
            who = self.agent_name if self.agent_name is not None else agent
            base = f"{who}.{self.name}" if who is not None else f"agent.{self.name}"
        return ".".join((base, *self.keys))


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]
    column: int


@dataclass(frozen=True)
class Unary:
    op: Literal["-", "not"]
    operand: Node
    column: int


@dataclass(frozen=True)
class Binary:
    """Arithmetic (``+ - * /``), a comparison, or ``and``/``or``."""

    op: str
    left: Node
    right: Node
    column: int


Node = Const | Var | Call | Unary | Binary


def walk(node: Node) -> list[Node]:
    """``node`` and every node below it, in reading order."""
    if isinstance(node, Binary):
        return [*walk(node.left), node, *walk(node.right)]
    if isinstance(node, Unary):
        return [node, *walk(node.operand)]
    if isinstance(node, Call):
        return [node, *(n for arg in node.args for n in walk(arg))]
    return [node]


# -------------------------------------------------------------------- parser


def parse(text: str) -> Node:
    """The tree of ``text``, or :class:`ExpressionError` with a column."""
    if not text.strip():
        raise ExpressionError("the rule is empty", 0, "write a condition such as 'tension >= 90'")
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    # -- helpers

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def _at(self, *texts: str) -> bool:
        token = self.current
        return token.kind in ("op", "name") and token.text in texts

    def _expect(self, text: str, after: str) -> Token:
        if not self._at(text):
            raise self._unexpected(f"expected '{text}' {after}")
        return self._advance()

    def _unexpected(self, expected: str) -> ExpressionError:
        token = self.current
        found = "the end of the rule" if token.kind == "end" else f"'{token.text}'"
        return ExpressionError(f"{expected}, found {found}", token.column)

    def _nested(self, column: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the rule nests deeper than {MAX_DEPTH} levels", column,
                                  "simplify it or split it into several rules")

    # -- grammar

    def parse(self) -> Node:
        node = self._or()
        if self.current.kind != "end":
            raise self._trailing()
        return node

    def _trailing(self) -> ExpressionError:
        token = self.current
        if token.kind == "op" and token.text == ")":
            return ExpressionError("')' without a matching '('", token.column)
        if token.text in _WORD_HINTS:
            return ExpressionError(f"unknown word '{token.text}'", token.column,
                                   f"write '{_WORD_HINTS[token.text]}' in lower case")
        return self._unexpected("expected an operator such as 'and' or '>='")

    def _or(self) -> Node:
        node = self._and()
        while self._at("or"):
            token = self._advance()
            node = Binary("or", node, self._and(), token.column)
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._at("and"):
            token = self._advance()
            node = Binary("and", node, self._not(), token.column)
        return node

    def _not(self) -> Node:
        if self._at("not"):
            token = self._advance()
            self._nested(token.column)
            operand = self._not()
            self.depth -= 1
            return Unary("not", operand, token.column)
        return self._comparison()

    def _comparison(self) -> Node:
        node = self._sum()
        if not self._at(*COMPARISONS):
            return node
        token = self._advance()
        node = Binary(token.text, node, self._sum(), token.column)
        if self._at(*COMPARISONS):
            raise ExpressionError("comparisons cannot be chained", self.current.column,
                                  "join them with and: 'a < b and b < c'")
        return node

    def _sum(self) -> Node:
        node = self._term()
        while self._at("+", "-"):
            token = self._advance()
            node = Binary(token.text, node, self._term(), token.column)
        return node

    def _term(self) -> Node:
        node = self._unary()
        while self._at("*", "/"):
            token = self._advance()
            node = Binary(token.text, node, self._unary(), token.column)
        return node

    def _unary(self) -> Node:
        if self._at("-"):
            token = self._advance()
            self._nested(token.column)
            operand = self._unary()
            self.depth -= 1
            return Unary("-", operand, token.column)
        return self._atom()

    def _atom(self) -> Node:
        token = self.current
        if token.kind == "number":
            self._advance()
            assert isinstance(token.value, float)
            value = int(token.value) if token.value.is_integer() and "." not in token.text \
                and "e" not in token.text.lower() else token.value
            return Const(value, token.column)
        if token.kind == "string":
            self._advance()
            return Const(str(token.value), token.column)
        if self._at("("):
            return self._group()
        if token.kind == "name":
            return self._named()
        raise self._unexpected("expected a value (a number, a variable or '(')")

    def _group(self) -> Node:
        opening = self._advance()
        self._nested(opening.column)
        node = self._or()
        if not self._at(")"):
            raise ExpressionError("'(' is not closed", opening.column, "add the missing ')'")
        self._advance()
        self.depth -= 1
        return node

    def _named(self) -> Node:
        token = self.current
        if token.text in ("true", "false"):
            self._advance()
            return Const(token.text == "true", token.column)
        if token.text in KEYWORDS:
            raise self._unexpected("expected a value (a number, a variable or '(')")
        if token.text in _WORD_HINTS:
            raise ExpressionError(f"unknown word '{token.text}'", token.column,
                                  f"write '{_WORD_HINTS[token.text]}' in lower case")
        nxt = self.tokens[self.index + 1]
        if nxt.kind == "op" and nxt.text == "(":
            return self._call()
        if token.text == "agent":
            return self._agent_var()
        self._advance()
        return Var("global", token.text, None, self._keys(), token.column)

    def _call(self) -> Node:
        name = self._advance()
        if name.text not in FUNCTIONS:
            raise ExpressionError(f"unknown function '{name.text}'", name.column,
                                  f"use one of {', '.join(FUNCTIONS)}")
        opening = self._advance()
        self._nested(opening.column)
        args: list[Node] = []
        if not self._at(")"):
            args.append(self._or())
            while self._at(","):
                self._advance()
                args.append(self._or())
        self._expect(")", f"to close the call of {name.text}()")
        self.depth -= 1
        low, high = FUNCTIONS[name.text]
        if not low <= len(args) <= high:
            count = str(low) if low == high else f"{low} to {high}"
            raise ExpressionError(f"{name.text}() takes {count} argument"
                                  f"{'s' if high > 1 else ''}, got {len(args)}", name.column)
        return Call(name.text, tuple(args), name.column)

    def _agent_var(self) -> Node:
        start = self._advance()
        agent_name: str | None = None
        if self._at("["):
            self._advance()
            if self.current.kind != "string":
                raise self._unexpected('expected an agent name in quotes, as in agent["Alpha"]')
            agent_name = str(self._advance().value)
            self._expect("]", "after the agent name")
        if not self._at("."):
            raise self._unexpected("expected '.' and a variable after 'agent' (agent.trust)")
        self._advance()
        name = self._name("a variable name after 'agent.'")
        return Var("agent", name, agent_name, self._keys(), start.column)

    def _keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        while self._at("."):
            self._advance()
            keys.append(self._name("a key after '.'"))
        return tuple(keys)

    def _name(self, what: str) -> str:
        token = self.current
        if token.kind != "name":
            raise self._unexpected(f"expected {what}")
        return self._advance().text
