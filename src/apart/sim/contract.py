"""The simulator contract (DESIGN §4): a model's raw text -> a validated turn.

Two stages, each usable on its own:

* :func:`extract_json` finds the one JSON object in what a model actually
  wrote — ``<think>`` blocks, code fences, prose around the JSON, trailing
  commas, Python-style ``True``/``False``/``None`` are all tolerated;
* :func:`validate_turn` checks that object against the scenario (known
  variables and agents, types, a message for every agent), coerces what can be
  coerced safely and returns a :class:`SimulatorTurn`.

Both raise :class:`~apart.errors.SimulatorContractError` whose message is short
and written to be fed back to the model on retry. :func:`validate_turn` reports
every problem it finds at once, so one retry can fix them all. Clamping numbers
to their bounds is not a contract violation; it happens in :mod:`apart.sim.world`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from apart.errors import SimulatorContractError
from apart.scenario.schema import Scenario, VarDef, VarType

#: the top-level keys of the contract; an object with any of them is "the answer"
CONTRACT_KEYS = ("state_updates", "events", "agent_messages", "reasoning")

_REPLY_HINT = (
    "reply with one JSON object with keys state_updates, events, agent_messages, reasoning"
)
#: at most this many problems are listed in one error (the rest are counted)
MAX_LISTED_PROBLEMS = 12
_MAX_PROBLEM_CHARS = 200
#: the listed problems together stay under this many characters
_MAX_LISTED_CHARS = 1600
_MAX_SHOWN_VALUE_CHARS = 40
_MAX_SHOWN_NAMES = 12
#: unbalanced "{" tried before the scan gives up (bounds work on pathological text)
_MAX_UNBALANCED_STARTS = 16
#: how deep the search looks into braced prose for the JSON object
_MAX_NESTED_SEARCH = 3
#: balanced spans examined before the search gives up
_MAX_SPANS = 256


# --------------------------------------------------------------------------- turn


@dataclass(frozen=True)
class SimulatorTurn:
    """One validated simulator answer, ordered as the scenario declares things.

    ``global_updates`` and ``agent_updates`` hold coerced, not yet clamped
    values; ``messages`` has exactly one non-empty message per agent; every
    event has string ``type`` and ``description``.
    """

    global_updates: dict[str, Any]
    agent_updates: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    messages: dict[str, str]
    reasoning: str

    def to_dict(self) -> dict[str, Any]:
        """The turn in the contract's own JSON shape (for transcripts and history)."""
        return {
            "state_updates": {
                "global_vars": copy.deepcopy(self.global_updates),
                "agent_vars": copy.deepcopy(self.agent_updates),
            },
            "events": copy.deepcopy(self.events),
            "agent_messages": dict(self.messages),
            "reasoning": self.reasoning,
        }


def parse_turn(text: str, scenario: Scenario) -> SimulatorTurn:
    """:func:`extract_json` then :func:`validate_turn`: the whole contract in one call."""
    return validate_turn(extract_json(text), scenario)


# ------------------------------------------------------------------ extraction

_FAILED = object()  # a text that is not (repairable) JSON
_THINK_BLOCK = re.compile(r"<(think|thinking)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:think|thinking)>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"^\s*<(?:think|thinking)>", re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer.

    Candidates, in order: the whole answer (without thinking), each code fence,
    then each balanced top-level ``{...}`` in the text. The first object that has
    a contract key wins; failing that, the first object at all. A whole answer
    (or fence) that is JSON but not an object is an error.
    """
    cleaned = strip_thinking(text)
    fallback: dict[str, Any] | None = None
    for body in (cleaned, *_fence_bodies(cleaned)):
        value = _loads_loose(body)
        if value is _FAILED:
            continue
        if not isinstance(value, dict):
            raise SimulatorContractError(
                f"your answer was a JSON {_json_kind(value)}, not an object; {_REPLY_HINT}"
            )
        if _has_contract_key(value):
            return value
        if fallback is None:
            fallback = value
    found, first_error = _scan_objects(cleaned)
    if found is not None and (fallback is None or _has_contract_key(found)):
        return found
    if fallback is not None:
        return fallback
    if first_error is not None:
        raise SimulatorContractError(
            f"the JSON object in your answer could not be parsed ({first_error}); "
            f"{_REPLY_HINT}, in valid JSON"
        )
    raise SimulatorContractError(f"your answer contained no JSON object; {_REPLY_HINT}")


def strip_thinking(text: str) -> str:
    """``text`` without ``<think>...</think>`` blocks (closed, unopened or unclosed)."""
    text = _THINK_BLOCK.sub("", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:  # "...reasoning</think>{json}": the opening tag was in the prompt
        text = text[closes[-1].end():]
    return _THINK_OPEN.sub("", text, count=1)


def _fence_bodies(text: str) -> list[str]:
    return [match.group(1) for match in _FENCE.finditer(text)]


def _has_contract_key(value: dict[str, Any]) -> bool:
    return any(key in value for key in CONTRACT_KEYS)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


def _scan_objects(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """First balanced object with a contract key (else the first object) and
    the parse error of the first balanced span that was not JSON."""
    first_object: dict[str, Any] | None = None
    first_error: str | None = None
    for span in _balanced_spans(text):
        value = _loads_loose(span)
        if value is _FAILED:
            nested = _nested_contract_object(span, _MAX_NESTED_SEARCH)
            if nested is not None:
                return nested, None
            first_error = first_error or _parse_error(span)
        elif isinstance(value, dict):
            if _has_contract_key(value):
                return value, None
            if first_object is None:
                first_object = value
    return first_object, first_error


def _nested_contract_object(span: str, depth: int) -> dict[str, Any] | None:
    """A contract object inside a braced span that is not JSON ("{see: {...}}")."""
    if depth == 0:
        return None
    for inner in _balanced_spans(span[1:-1]):
        value = _loads_loose(inner)
        if value is _FAILED:
            value = _nested_contract_object(inner, depth - 1)
        if isinstance(value, dict) and _has_contract_key(value):
            return value
    return None


#: a JSON string literal (an unterminated one runs to the end of the text)
_STRING = r'"(?:[^"\\]|\\.)*(?:"|\Z)'
_BRACE_TOKENS = re.compile(rf"{_STRING}|[{{}}]", re.DOTALL)
_REPAIR_TOKENS = re.compile(
    rf"(?P<string>{_STRING})|,(?P<closer>\s*[}}\]])|\b(?P<word>True|False|None)\b",
    re.DOTALL,
)


def _balanced_spans(text: str) -> Iterator[str]:
    """Each top-level ``{...}`` span, in order. An unbalanced ``{`` is prose: the
    spans that did close after it are used, or the search restarts after it."""
    unbalanced = spans = 0
    start = text.find("{")
    while start != -1 and unbalanced < _MAX_UNBALANCED_STARTS and spans < _MAX_SPANS:
        end, inner = _close_brace(text, start)
        if end is not None:
            spans += 1
            yield text[start:end + 1]
            start = text.find("{", end + 1)
        elif inner:
            yield from (text[begin:close + 1] for begin, close in inner[:_MAX_SPANS - spans])
            return
        else:
            unbalanced += 1
            start = text.find("{", start + 1)


def _close_brace(text: str, start: int) -> tuple[int | None, list[tuple[int, int]]]:
    """Index of the ``}`` closing the ``{`` at ``start`` (braces in strings don't
    count); if it never closes, the outermost ``(begin, end)`` pairs that did."""
    opened: list[int] = []
    closed: list[tuple[int, int]] = []
    for token in _BRACE_TOKENS.finditer(text, start):
        if token.group() == "{":
            opened.append(token.start())
        elif token.group() == "}" and opened:
            begin = opened.pop()
            if not opened:
                return token.start(), []
            closed.append((begin, token.start()))
    return None, _outermost(closed)


def _outermost(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs no other pair encloses, in text order (``pairs`` in closing order)."""
    outermost: list[tuple[int, int]] = []
    first_begin = math.inf
    for begin, end in reversed(pairs):  # an enclosing pair closes later
        if begin < first_begin:
            outermost.append((begin, end))
            first_begin = begin
    return outermost[::-1]


def _loads_loose(text: str) -> Any:
    """``json.loads``, then again after :func:`_repair`; ``_FAILED`` if neither works."""
    try:
        return json.loads(text, strict=False)
    except (ValueError, RecursionError):
        pass
    if text.lstrip()[:1] not in ("{", "["):  # nothing the repair could fix
        return _FAILED
    try:
        return json.loads(_repair(text), strict=False)
    except (ValueError, RecursionError):
        return _FAILED


def _parse_error(text: str) -> str:
    try:
        json.loads(_repair(text), strict=False)
    except json.JSONDecodeError as err:
        return f"{err.msg} at line {err.lineno} column {err.colno}"
    except (ValueError, RecursionError) as err:
        return str(err)[:_MAX_PROBLEM_CHARS]
    return "unknown error"


def _repair(text: str) -> str:
    """Drop trailing commas and turn bare ``True``/``False``/``None`` into JSON,
    touching nothing inside strings."""
    return _REPAIR_TOKENS.sub(_repair_token, text)


def _repair_token(match: re.Match[str]) -> str:
    if match.group("string") is not None:
        return match.group("string")
    if match.group("closer") is not None:
        return match.group("closer")
    return _PY_LITERALS[match.group("word")]


# ------------------------------------------------------------------ validation


class _Problems:
    """Every contract problem of one answer, as ``path: what is wrong`` lines."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, problem: str) -> None:
        line = f"{path}: {problem}" if path else problem
        if len(line) > _MAX_PROBLEM_CHARS:
            line = line[:_MAX_PROBLEM_CHARS - 1] + "…"
        self.items.append(line)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        error = SimulatorContractError(_problems_message(self.items))
        error.problems = list(self.items)  # type: ignore[attr-defined]
        raise error


def _problems_message(items: list[str]) -> str:
    """The error text: every problem that fits in the budget, then a count of the rest."""
    count = len(items)
    noun = "problem" if count == 1 else "problems"
    lines: list[str] = []
    used = 0
    for item in items[:MAX_LISTED_PROBLEMS]:
        if used + len(item) > _MAX_LISTED_CHARS:
            break
        lines.append(f"- {item}")
        used += len(item) + 3
    if len(lines) < count:
        lines.append(f"- … and {count - len(lines)} more")
    return (
        f"your JSON answer broke the simulator contract ({count} {noun}):\n"
        + "\n".join(lines)
        + "\nFix these and reply with the whole corrected JSON object "
        "(keys state_updates, events, agent_messages, reasoning)."
    )


def validate_turn(raw: dict[str, Any], scenario: Scenario) -> SimulatorTurn:
    """Check ``raw`` against ``scenario``; raise one error listing every problem.

    Unknown top-level keys (``narrative``, ...) are ignored.
    """
    problems = _Problems()
    if not isinstance(raw, dict):
        problems.add("", f"the answer must be a JSON object, got {_show(raw)}")
        problems.raise_if_any()
    global_updates, agent_updates = _state_updates(raw.get("state_updates"), scenario, problems)
    events = _events(raw.get("events"), problems)
    messages = _messages(raw.get("agent_messages"), scenario, problems)
    reasoning = _reasoning(raw.get("reasoning"))
    problems.raise_if_any()
    return SimulatorTurn(global_updates, agent_updates, events, messages, reasoning)


# state_updates ---------------------------------------------------------------


def _state_updates(
    value: Any, scenario: Scenario, problems: _Problems
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        problems.add(
            "state_updates",
            f"expected an object with global_vars and agent_vars, got {_show(value)}",
        )
        return {}, {}
    for key in value:
        if key not in ("global_vars", "agent_vars"):
            problems.add(f"state_updates.{key}", _misplaced_key_hint(key, scenario))
    global_updates = _variables(
        value.get("global_vars"), scenario.global_vars, "state_updates.global_vars",
        "global variable", problems,
    )
    return global_updates, _agent_updates(value.get("agent_vars"), scenario, problems)


def _misplaced_key_hint(key: str, scenario: Scenario) -> str:
    head = "unknown key; state_updates may contain only global_vars and agent_vars"
    if key in scenario.global_vars:
        return f"{head} (put global variables under state_updates.global_vars)"
    if key in scenario.agent_names:
        return f"{head} (put agent variables under state_updates.agent_vars)"
    return head


def _agent_updates(
    value: Any, scenario: Scenario, problems: _Problems
) -> dict[str, dict[str, Any]]:
    path = "state_updates.agent_vars"
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"expected an object keyed by agent name, got {_show(value)}")
        return {}
    agents = scenario.agent_names
    for name in value:
        if name not in agents:
            problems.add(f"{path}.{name}", _unknown_agent(agents))
    updates: dict[str, dict[str, Any]] = {}
    for name in agents:  # declaration order, whatever order the model used
        if name in value:
            coerced = _variables(
                value[name], scenario.agent_vars, f"{path}.{name}", "agent variable", problems
            )
            if coerced:
                updates[name] = coerced
    return updates


def _variables(
    value: Any, definitions: dict[str, VarDef], path: str, kind: str, problems: _Problems
) -> dict[str, Any]:
    """Coerced updates of declared variables, in declaration order."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"expected an object of variable: value, got {_show(value)}")
        return {}
    for name in value:
        if name not in definitions:
            problems.add(f"{path}.{name}", _unknown_variable(kind, definitions))
    coerced: dict[str, Any] = {}
    for name, definition in definitions.items():
        if name not in value:
            continue
        result = _coerce(value[name], definition.type)
        if result is _INVALID:
            expected = _EXPECTED[definition.type]
            problems.add(f"{path}.{name}", f"expected {expected}, got {_show(value[name])}")
        else:
            coerced[name] = result
    return coerced


def _unknown_agent(agents: list[str]) -> str:
    if not agents:
        return "unknown agent; this scenario has no agents"
    return f"unknown agent; the agents are {_names(agents)}"


def _unknown_variable(kind: str, definitions: dict[str, VarDef]) -> str:
    if not definitions:
        return f"unknown {kind}; this scenario has no {kind}s"
    return f"unknown {kind}; the {kind}s are {_names(list(definitions))}"


# coercion --------------------------------------------------------------------

_INVALID = object()

_EXPECTED: dict[str, str] = {
    "int": "an int (a whole number)",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "list": "a list",
    "dict": "an object",
}


def _coerce(value: Any, var_type: VarType) -> Any:
    """``value`` as a ``var_type`` value, or ``_INVALID``.

    More lenient than the scenario's own coercion, because models are: whole
    floats and numeric strings for ``int``; ints and numeric strings for
    ``float``; "true"/"false" strings for ``bool``; numbers for ``str``. Never
    tolerated: bools as numbers, non-finite numbers, words for numbers.
    """
    return _COERCERS[var_type](value)


def _number_from_text(text: str) -> int | float | None:
    text = text.strip()
    for parse in (int, float):
        try:
            return parse(text)
        except (ValueError, OverflowError):
            continue
    return None


def _to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else _INVALID
    if isinstance(value, str):
        number = _number_from_text(value)
        return _INVALID if number is None else _to_int(number)
    return _INVALID


def _to_float(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return _INVALID
        return number if math.isfinite(number) else _INVALID
    if isinstance(value, str):
        parsed = _number_from_text(value)
        return _INVALID if parsed is None else _to_float(parsed)
    return _INVALID


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return _INVALID


def _to_str(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _INVALID


def _to_list(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, list) else _INVALID


def _to_dict(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, dict) else _INVALID


_COERCERS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "list": _to_list,
    "dict": _to_dict,
}


# events, messages, reasoning -------------------------------------------------


def _events(value: Any, problems: _Problems) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add("events", f"expected a list of events, got {_show(value)}")
        return []
    events: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        event = _event(item)
        if event is None:
            problems.add(
                f"events[{index}]",
                f"expected an object with type and description (or a string), got {_show(item)}",
            )
        else:
            events.append(event)
    return events


def _event(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return {"type": "event", "description": item}
    if not isinstance(item, dict):
        return None
    event = copy.deepcopy(item)
    kind = _as_text(event.get("type")).strip()
    event["type"] = kind or "event"
    event["description"] = _as_text(event.get("description"))
    return event


def _messages(value: Any, scenario: Scenario, problems: _Problems) -> dict[str, str]:
    agents = scenario.agent_names
    if value is None:
        if agents:
            problems.add(
                "agent_messages", f"missing; give a message for every agent: {_names(agents)}"
            )
        return {}
    if not isinstance(value, dict):
        problems.add(
            "agent_messages", f"expected an object of agent name: message, got {_show(value)}"
        )
        return {}
    for name in value:
        if name not in agents:
            problems.add(f"agent_messages.{name}", _unknown_agent(agents))
    messages: dict[str, str] = {}
    for name in agents:
        message = _message(name, value, problems)
        if message is not None:
            messages[name] = message
    return messages


def _message(name: str, messages: dict[str, Any], problems: _Problems) -> str | None:
    if name not in messages:
        problems.add("agent_messages", f"missing a message for {name}")
        return None
    message = messages[name]
    if not isinstance(message, str):
        problems.add(f"agent_messages.{name}", f"expected a string, got {_show(message)}")
        return None
    if not message.strip():
        problems.add(f"agent_messages.{name}", "empty message; every agent needs a message")
        return None
    return message


def _reasoning(value: Any) -> str:
    return "" if value is None else _as_text(value)


# text helpers ----------------------------------------------------------------


def _as_text(value: Any) -> str:
    """Strings as they are, None as "", anything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _show(value: Any) -> str:
    """A short rendering of a model's value for an error message."""
    text = repr(value) if isinstance(value, str) else _as_text(value) or "null"
    if len(text) > _MAX_SHOWN_VALUE_CHARS:
        text = text[:_MAX_SHOWN_VALUE_CHARS - 1] + "…"
    return text


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_SHOWN_NAMES])
    more = len(names) - _MAX_SHOWN_NAMES
    return f"{shown} (and {more} more)" if more > 0 else shown
