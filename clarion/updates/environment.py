"""The Jinja environment of the message templates: the bounded sandbox, the shipped and the packages'
template folders, the playbook's overrides as child templates, and (for updates) the story's marks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from clarion.channel_table import channel_table
from clarion.errors import ConfigError
from clarion.story.marks import mark_blocks
from clarion.updates.template_env import BoundedEnvironment

MACROS = "_macros"
"""The folder of each locale's macros (``_macros/<locale>.j2``), which templates import as ``macros``."""


def autoescaped(name: str | None) -> bool:
    return bool(name and name.endswith(".html.j2"))


def _html_macros(templates_dir: Path, name: str) -> tuple[str, str, Callable[[], bool]] | None:
    """``_macros/en.html.j2`` is ``_macros/en.j2`` compiled again with autoescape.

    Jinja marks a macro's result safe when an autoescaped template calls it, so macros called from
    HTML must themselves be compiled with autoescape, or the text they interpolate would pass
    unescaped. Templates import ``macros`` (set by the renderer), never a file name.
    """
    if not (name.startswith(MACROS + "/") and name.endswith(".html.j2")):
        return None
    path = templates_dir / name.removesuffix(".html.j2")
    path = path.with_name(path.name + ".j2")
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8"), str(path), lambda: True


class _OverrideLoader(jinja2.DictLoader):
    """Serves the generated child templates, their literal text turned into text values.

    Literal text in a template is markup: an autoescaped template passes it through as written.
    An override's literal text is the playbook's prose, shared by the plain and the HTML forms, so
    in an HTML child each piece of it becomes a constant, which autoescape escapes like any value.
    """

    def load(
        self, environment: jinja2.Environment, name: str, globals: MutableMapping[str, Any] | None = None
    ) -> jinja2.Template:
        source, filename, uptodate = self.get_source(environment, name)
        tree = environment.parse(source, name, filename)
        if autoescaped(name):
            for output in tree.find_all(nodes.Output):
                output.nodes = [
                    nodes.Const(child.data, lineno=child.lineno, environment=environment)
                    if isinstance(child, nodes.TemplateData)
                    else child
                    for child in output.nodes
                ]
        code = environment.compile(tree, name, filename)
        return environment.template_class.from_code(
            environment, code, environment.make_globals(globals), uptodate
        )


class _StoryEnvironment(BoundedEnvironment):
    """Also marks the story's blocks as it parses a template (:mod:`clarion.story.marks`)."""

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return mark_blocks(super()._parse(source, name, filename))


def make_environment(
    templates_dir: Path, generated: Mapping[str, str] | None = None, *, story: bool = False
) -> BoundedEnvironment:
    """The one Jinja environment: sandboxed, immutable, bounded, strict about undefined names.

    ``generated`` templates (playbook overrides) are served by name, so a child of an HTML
    template is named ``….html.j2`` and is autoescaped like its parent. With ``story``, the four
    parts' blocks are marked in the output, for :meth:`Renderer.render` to read and take out.
    """
    if not templates_dir.is_dir():
        raise ConfigError(f"templates folder not found: {templates_dir}")
    loaders = [
        _OverrideLoader(dict(generated or {})),
        jinja2.FunctionLoader(lambda name: _html_macros(templates_dir, name)),
        jinja2.FileSystemLoader(templates_dir),
        jinja2.PrefixLoader(
            {
                c.value: jinja2.FileSystemLoader(spec.templates)
                for c, spec in channel_table().items()
                if spec.templates
            }
        ),
    ]
    environment = _StoryEnvironment if story else BoundedEnvironment
    return environment(
        loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined, autoescape=autoescaped
    )
