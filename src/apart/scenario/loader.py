"""Loading a scenario: YAML text -> a validated, normalised :class:`Scenario`.

Every problem becomes a :class:`~apart.errors.ScenarioIssue` naming the YAML
path (``agents[2].variables.trust``), the problem and the fix, and all of them
are raised together as one :class:`~apart.errors.ScenarioError` -- never a
pydantic or YAML traceback. Checking happens in three rounds; each reports
every problem it finds, and a round runs only when the one before it passed:

1. the YAML itself: syntax (with line and column), duplicate keys (which YAML
   would silently drop), aliases that contain themselves or expand the file
   beyond 100,000 values, an empty file, a file that is not a mapping of keys;
2. structure and types: unknown keys, wrong types (strictly: ``"10"`` is not a
   number, ``1`` is not ``true``), and the rules each part checks on its own
   (bounds, defaults, ranges; see :mod:`apart.scenario.schema`);
3. rules between parts: at least one agent, unique agent names, agent
   ``variables`` that override declared ``agent_vars`` with fitting values,
   scripted events no later than ``max_steps``, ``danger.rules`` that parse and
   name declared variables (see :func:`apart.danger.rules.rule_issues`).

Then the scenario is normalised: override values take their variable's type
(``3.0`` -> ``3`` for an int variable, ``3`` -> ``3.0`` for a float one), and
an agent with neither ``llm`` nor ``response_template`` is played by the
engine's LLM (its provider, model, base_url, temperature, max_tokens, timeout
and latency).

YAML is read with ``yaml.safe_load`` only: tags such as ``!!python/object`` are
an error, never executed.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from apart.errors import ScenarioError, ScenarioIssue
from apart.scenario.schema import (
    RULE_ERROR,
    TYPE_WORDS,
    AgentConfig,
    EngineConfig,
    LLMConfig,
    Scenario,
    VarDef,
    VarValueError,
    describe_value,
    unquoted_fits,
)

Loc = tuple[int | str, ...]

#: pydantic's type errors -> the type that was expected (a key of TYPE_WORDS)
_EXPECTED: dict[str, str] = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "string_type": "str",
    "list_type": "list",
    "dict_type": "dict",
    "model_type": "dict",
    "model_attributes_type": "dict",
}


def load_scenario_file(path: str | Path) -> Scenario:
    """Load and validate the scenario in ``path``; its ``name`` defaults to the file stem."""
    file = Path(path)
    scenario = load_scenario_text(_read(file), source=str(file))
    if not scenario.name:
        scenario = scenario.model_copy(update={"name": file.stem})
    return scenario


def load_scenario_text(text: str, source: str = "<scenario>") -> Scenario:
    """Load and validate scenario YAML; ``source`` names it in error messages.

    Raises :class:`~apart.errors.ScenarioError` listing every problem found.
    """
    scenario = _validate(_parse_yaml(text, source), source)
    issues = [*_agent_issues(scenario), *_override_issues(scenario), *_event_issues(scenario),
              *_danger_issues(scenario)]
    if issues:
        raise ScenarioError(issues, source=source)
    return _normalise(scenario)


# -- round 1: the file and its YAML -------------------------------------------------


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problem, fix = _read_problem(err)
        raise ScenarioError([ScenarioIssue("", problem, fix)], source=str(file)) from None


def _read_problem(err: OSError | UnicodeDecodeError) -> tuple[str, str]:
    if isinstance(err, UnicodeDecodeError):
        return f"the file is not UTF-8 text (byte {err.start})", "save it as UTF-8 text"
    if isinstance(err, FileNotFoundError):
        return "the file does not exist", f"check the path (relative paths start at {Path.cwd()})"
    if isinstance(err, IsADirectoryError):
        return "this is a directory, not a file", "give the path of a .yaml file"
    if isinstance(err, PermissionError):
        return "the file cannot be read (permission denied)", "check the file's permissions"
    return f"the file cannot be read ({err.strerror or err})", "check the path and the file"


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
        issues = _NodeCheck().issues_in(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise ScenarioError([_yaml_issue(err)], source=source) from None
    except RecursionError:
        issues = [ScenarioIssue("", "the YAML is nested too deeply to read",
                                "flatten the deepest lists and mappings")]
    if issues:
        raise ScenarioError(issues, source=source)
    if data is None:
        problem, fix = "the file is empty", "write a scenario with at least engine: and agents:"
    elif not isinstance(data, dict):
        problem = f"the file holds {describe_value(data)}, not a mapping of keys"
        fix = "start the file with top-level keys such as max_steps:, engine: and agents:"
    else:
        return data
    raise ScenarioError([ScenarioIssue("", problem, fix)], source=source)


class _NodeCheck:
    """One walk over the YAML node tree (nothing constructed) for what safe_load lets by:
    duplicate keys (YAML keeps the last silently), aliases that contain themselves,
    and aliases that expand a small file into a huge one.
    """

    MAX_VALUES = 100_000

    def __init__(self) -> None:
        self.issues: list[ScenarioIssue] = []
        self._sizes: dict[int, int] = {}  # expanded size of each node walked
        self._open: set[int] = set()  # nodes being walked: meeting one again is a cycle

    def issues_in(self, root: yaml.Node | None) -> list[ScenarioIssue]:
        if root is not None and self._size(root, ()) > self.MAX_VALUES:
            self.issues.append(ScenarioIssue(
                "", f"the file expands to more than {self.MAX_VALUES} values through aliases",
                "use fewer aliases (*name) or smaller lists",
            ))
        return self.issues

    def _size(self, node: yaml.Node, loc: Loc) -> int:
        key = id(node)
        if key in self._open:
            self.issues.append(ScenarioIssue(_path(loc), "an alias refers to a value that "
                                             "contains it", "write the value out instead"))
            return 0
        if key not in self._sizes:
            self._open.add(key)
            self._sizes[key] = 1 + sum(self._size(child, at) for at, child in self._children(
                node, loc))
            self._open.discard(key)
        return self._sizes[key]

    def _children(self, node: yaml.Node, loc: Loc) -> list[tuple[Loc, yaml.Node]]:
        if isinstance(node, yaml.SequenceNode):
            return [((*loc, index), child) for index, child in enumerate(node.value)]
        if not isinstance(node, yaml.MappingNode):
            return []
        first_line: dict[str, int] = {}
        children: list[tuple[Loc, yaml.Node]] = []
        for key_node, value in node.value:
            name, line = str(key_node.value), key_node.start_mark.line + 1
            if name in first_line and name != "<<":
                self.issues.append(ScenarioIssue(
                    _path((*loc, name)), f"duplicate key (lines {first_line[name]} and {line})",
                    "keep one of them: YAML would silently use the last",
                ))
            first_line.setdefault(name, line)
            children.append(((*loc, name), value))
        return children


def _yaml_issue(err: yaml.YAMLError) -> ScenarioIssue:
    mark = getattr(err, "problem_mark", None)
    what = getattr(err, "problem", None) or str(err)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    if isinstance(err, yaml.constructor.ConstructorError):
        fix = "remove the tag: a scenario holds plain values (numbers, text, lists, mappings)"
    else:
        fix = "check indentation and quoting near there"
    return ScenarioIssue("", f"the YAML cannot be read{where}: {what}", fix)


# -- round 2: structure and types (pydantic errors -> issues) -----------------------


def _validate(raw: dict[str, Any], source: str) -> Scenario:
    try:
        return Scenario.model_validate(raw, strict=True)
    except ValidationError as err:
        issues = [_issue_from_error(error) for error in err.errors(include_url=False)]
        raise ScenarioError(issues, source=source) from None


def _issue_from_error(error: ErrorDetails) -> ScenarioIssue:
    kind, loc = error["type"], tuple(error["loc"])
    if kind == RULE_ERROR:
        ctx = error.get("ctx", {})
        field = (ctx["field"],) if ctx.get("field") else ()
        return ScenarioIssue(_path((*loc, *field)), ctx["problem"], ctx.get("fix", ""))
    if kind == "extra_forbidden":
        return _unknown_key_issue(loc)
    if kind == "missing":
        return _missing_key_issue(loc)
    if kind == "literal_error":
        return _choice_issue(loc, error["input"])
    if kind in _EXPECTED:
        return _type_issue(loc, _EXPECTED[kind], error["input"])
    return ScenarioIssue(_path(loc), error["msg"])


def _unknown_key_issue(loc: Loc) -> ScenarioIssue:
    key = str(loc[-1])
    known = _known_keys(loc[:-1])
    close = _closest(key, known)
    if close:
        problem, fix = f"unknown key '{key}' (did you mean '{close}'?)", f"rename it to '{close}'"
    else:
        problem, fix = f"unknown key '{key}'", f"remove it; keys allowed here: {', '.join(known)}"
    return ScenarioIssue(_path(loc), problem, fix)


def _missing_key_issue(loc: Loc) -> ScenarioIssue:
    key = loc[-1]
    choices = _choices(loc)
    hint = f" with one of {', '.join(choices)}" if choices else ""
    return ScenarioIssue(_path(loc[:-1]), f"missing required key '{key}'", f"add {key}:{hint}")


def _choice_issue(loc: Loc, value: Any) -> ScenarioIssue:
    choices = _choices(loc)
    close = _closest(value, choices) if isinstance(value, str) else None
    shown = repr(value) if isinstance(value, str) else describe_value(value)
    problem = f"{shown} is not one of {', '.join(choices)}"
    if close:
        return ScenarioIssue(_path(loc), f"{problem} (did you mean '{close}'?)", f"use '{close}'")
    return ScenarioIssue(_path(loc), problem, f"use one of {', '.join(choices)}")


def _type_issue(loc: Loc, expected: str, value: Any) -> ScenarioIssue:
    if loc and loc[-1] == "[key]":
        return ScenarioIssue(_path(loc[:-2]), f"names must be text, got {describe_value(value)}",
                             f"put the name in quotes: '{value}'")
    problem = f"expected {TYPE_WORDS[expected]}, got {describe_value(value)}"
    return ScenarioIssue(_path(loc), problem, _type_fix(loc, expected, value))


def _type_fix(loc: Loc, expected: str, value: Any) -> str:
    if isinstance(value, str) and unquoted_fits(value, expected):
        return f"remove the quotes around {value!r}"
    if expected == "str" and value is not None:
        return f"put it in quotes: '{value}'"
    keys = _known_keys(loc)
    if keys:
        return f"write a mapping with keys such as {', '.join(keys[:3])}"
    if value is None:
        return f"write {TYPE_WORDS[expected]} after the colon, or remove the key"
    return f"replace it with {TYPE_WORDS[expected]}"


def _closest(word: str, candidates: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _path(loc: Sequence[int | str]) -> str:
    """``('agents', 2, 'variables', 'trust')`` -> ``agents[2].variables.trust``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


# -- what the schema expects at a YAML path ----------------------------------------


def _known_keys(loc: Loc) -> list[str]:
    model = _annotation_at(loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _choices(loc: Loc) -> list[str]:
    annotation = _annotation_at(loc)
    return [str(arg) for arg in get_args(annotation)] if get_origin(annotation) is Literal else []


def _annotation_at(loc: Loc) -> Any:
    """The type the schema declares at ``loc`` (None when the path leaves the schema)."""
    annotation: Any = Scenario
    for part in loc:
        annotation = _child(_unwrap_optional(annotation), part)
        if annotation is None:
            return None
    return _unwrap_optional(annotation)


def _child(annotation: Any, part: int | str) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field else None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict:
        return args[1]
    return None


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) not in (Union, types.UnionType):
        return annotation
    members = [arg for arg in get_args(annotation) if arg is not type(None)]
    return members[0] if len(members) == 1 else annotation


# -- round 3: rules between parts ---------------------------------------------------


def _agent_issues(scenario: Scenario) -> list[ScenarioIssue]:
    if not scenario.agents:
        return [ScenarioIssue("agents", "a scenario needs at least one agent",
                              "add an entry under agents: with a name and a system_prompt")]
    issues: list[ScenarioIssue] = []
    first_index: dict[str, int] = {}
    for index, agent in enumerate(scenario.agents):
        if agent.name in first_index:
            issues.append(ScenarioIssue(
                f"agents[{index}].name",
                f"'{agent.name}' is already the name of agents[{first_index[agent.name]}]",
                "give every agent a different name",
            ))
        first_index.setdefault(agent.name, index)
    return issues


def _override_issues(scenario: Scenario) -> list[ScenarioIssue]:
    issues: list[ScenarioIssue] = []
    for index, agent in enumerate(scenario.agents):
        for name, value in agent.variables.items():
            path = f"agents[{index}].variables.{name}"
            definition = scenario.agent_vars.get(name)
            if definition is None:
                issues.append(_undeclared_issue(path, name, list(scenario.agent_vars)))
                continue
            try:
                definition.accept(value)
            except VarValueError as err:
                issues.append(ScenarioIssue(path, err.problem, err.fix))
    return issues


def _undeclared_issue(path: str, name: str, declared: list[str]) -> ScenarioIssue:
    if not declared:
        return ScenarioIssue(path, f"'{name}' is not declared: this scenario has no agent_vars",
                             f"declare {name} under agent_vars:, or remove the override")
    close = _closest(name, declared)
    hint = f"rename it to '{close}'" if close else f"declare {name} under agent_vars:"
    problem = f"'{name}' is not declared in agent_vars (declared: {', '.join(declared)})"
    return ScenarioIssue(path, problem, f"{hint}, or remove the override")


def _event_issues(scenario: Scenario) -> list[ScenarioIssue]:
    last = scenario.max_steps
    return [
        ScenarioIssue(
            f"engine.scripted_events[{index}].step",
            f"step {event.step} is after the last step (max_steps is {last})",
            f"use a step between 0 and {last}, or raise max_steps",
        )
        for index, event in enumerate(scenario.engine.scripted_events)
        if event.step > last
    ]


def _danger_issues(scenario: Scenario) -> list[ScenarioIssue]:
    if scenario.danger is None:
        return []
    from apart.danger.rules import rule_issues  # here: apart.danger imports this package

    return rule_issues(scenario)


# -- normalisation -----------------------------------------------------------------


def _normalise(scenario: Scenario) -> Scenario:
    agents = [_normalise_agent(agent, scenario) for agent in scenario.agents]
    return scenario.model_copy(update={"agents": agents})


def _normalise_agent(agent: AgentConfig, scenario: Scenario) -> AgentConfig:
    definitions: dict[str, VarDef] = scenario.agent_vars
    update: dict[str, Any] = {
        "variables": {name: definitions[name].accept(v) for name, v in agent.variables.items()}
    }
    if agent.llm is None and agent.response_template is None:
        update["llm"] = _engine_llm(scenario.engine)
    return agent.model_copy(update=update)


def _engine_llm(engine: EngineConfig) -> LLMConfig:
    """The engine's model and connection settings, as the LLM of an agent."""
    return LLMConfig(**{name: getattr(engine, name) for name in LLMConfig.model_fields})
