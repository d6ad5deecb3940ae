"""A recipe's YAML as plain Python data, with an index back to line numbers for error messages. Safe tags only
(no '!!python', no custom tags), and a key twice in one mapping is an error, not a silent overwrite.
"""
import math
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from .errors import RecipeError

try:  # libyaml is much faster on large recipes; the pure-Python loader is the fallback
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

STR_TAG = "tag:yaml.org,2002:str"
FLOAT_TAG = "tag:yaml.org,2002:float"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader with a memo on tag resolution. libyaml calls back into Python's resolver for every
    scalar, which tries the implicit-type regexes each time (a third of a 5,000-step recipe's load); a recipe
    repeats the same keys and values (name, type, shell, ...), and a plain scalar's tag depends on its text only
    (this loader has no path resolvers)."""

    _tags: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = self._tags.get(value)
            if tag is None:
                tag = self._tags[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # path resolvers only; there are none

    def ascend_resolver(self) -> None:
        pass


class NodeIndex:
    """Finds the YAML line of a location path such as ('steps', 3, 'depends_on')."""

    def __init__(self, root: yaml.Node) -> None:
        self.root = root

    def line_of(self, loc: tuple[Any, ...]) -> int:
        node: Any = self.root
        line = node.start_mark.line + 1
        for part in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == part:
                        child = value
                        line = key.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line


class _Builder:
    """Node tree -> Python values."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        # True when the data holds what the quick check (JSON Schema) and pydantic's strict mode could judge
        # differently: NaN (it passes any bound in generated comparisons), infinity (JSON has no such number, so
        # the schema cannot refuse it) or a mapping key that is not a string
        self.exotic = False

    def construct(self, node: yaml.Node, memo: dict[int, Any]) -> Any:
        """Node tree -> Python values with the safe constructors, refusing duplicate keys on the way. A direct
        walk: several times faster than PyYAML's generic construct_document on recipes with thousands of steps."""
        known = memo.get(id(node))
        if known is not None:  # an alias: the same node again
            return known
        if isinstance(node, yaml.ScalarNode):
            if node.tag == STR_TAG:
                return node.value
            build = self._loader.yaml_constructors.get(node.tag)
            if build is None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark)
            value = build(self._loader, node)
            if node.tag == FLOAT_TAG and not math.isfinite(value):
                self.exotic = True
            return value
        if isinstance(node, yaml.SequenceNode):
            if node.tag != SEQ_TAG:
                raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {node.tag!r}", node.start_mark)
            items: list[Any] = []
            memo[id(node)] = items
            items.extend(self.construct(item, memo) for item in node.value)
            return items
        if not isinstance(node, yaml.MappingNode) or node.tag != MAP_TAG:
            raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {node.tag!r}", node.start_mark)
        seen: set[Any] = set()
        for key, _ in node.value:
            if key.tag == STR_TAG or key.tag == "tag:yaml.org,2002:int":
                if key.value in seen and key.value != "<<":
                    raise RecipeError(f":{key.start_mark.line + 1}: key {key.value!r} appears twice in the same "
                                      "mapping; keep one")
                seen.add(key.value)
        self._loader.flatten_mapping(node)  # `<<: *defaults` merges; explicit keys win
        mapping: dict[Any, Any] = {}
        memo[id(node)] = mapping
        for key_node, value_node in node.value:
            key = self.construct(key_node, memo)
            if key_node.tag != STR_TAG:
                self.exotic = True
            try:
                mapping[key] = self.construct(value_node, memo)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}",
                                                        key_node.start_mark) from None
        return mapping


class ParsedYaml(NamedTuple):
    data: Any
    lines: NodeIndex  # where each part of data is
    exotic: bool  # see _Builder.exotic


def parse_yaml(path: Path, text: str) -> ParsedYaml:
    """The recipe's data and where each part is; RecipeError naming the file and line for bad YAML or an unsafe
    tag. Each call builds new data: a validator that fills in defaults may change it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RecipeError(f"{path}: the recipe is empty; it needs 'test_meta:' and 'steps:'")
        builder = _Builder(loader)
        try:
            data = builder.construct(node, {})
        except RecipeError as exc:
            raise RecipeError(f"{path}{exc}") from None
        except RecursionError:
            raise RecipeError(f"{path}: the recipe is nested too deeply to be a recipe") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark else ""
        raise RecipeError(
            f"{path}{where}: {exc.problem}; recipes are plain YAML (no '!!python' or custom tags): remove the tag"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        fix = "fix the syntax at that line"
        if mark and _tab_at(text, mark.line, mark.column):
            problem += "" if "tab" in problem else " (a tab)"
            fix = "YAML indents with spaces only: replace the tab with spaces"
        raise RecipeError(f"{path}{where}: not valid YAML: {problem}; {fix}") from None
    finally:
        loader.dispose()
    return ParsedYaml(data, NodeIndex(node), builder.exotic)


def _tab_at(text: str, line: int, column: int) -> bool:
    """Is the character where the YAML error was found a tab, or the line indented with one?"""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return False
    here = lines[line]
    return here[column:column + 1] == "\t" or "\t" in here[:len(here) - len(here.lstrip())]
