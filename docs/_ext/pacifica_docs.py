"""Sphinx directives that generate the manual's reference parts from the code.

* ``.. pacifica-config:: pacifica.cartd.config`` renders a table of every :class:`Key` a
  module declares (``KEYS``, or the attribute named by ``:attribute:``): the INI key, its
  environment variable, its default, its type and its meaning.
* ``.. pacifica-program:: pacifica.cartd.service:SERVICE`` renders the options of a program
  from the argument parser the program itself builds: ``:kind: server`` or ``admin`` for a
  :class:`pacifica.common.cli.Service`; a target that is an ``ArgumentParser``, or a
  function returning one (``pacifica.suite:parser``), is rendered as it is.

Nothing here is retyped: when a key or a flag changes in the code, the manual follows at the
next build. The functions that compute the rows (:func:`key_rows`, :func:`program_model`)
need neither Sphinx nor docutils, so the tests can check them without the ``docs`` extra.
"""
import argparse
import importlib
import importlib.util
import pkgutil
from typing import Any, Dict, List, Tuple

TYPE_WORDS = {
    'str': 'text',
    'int': 'integer',
    'float': 'number',
    'bool': 'boolean',
    'size': 'size ("4 Mb")',
}


def resolve(target: str) -> Any:
    """``package.module:attribute`` (or just ``package.module``) to the object it names."""
    module_name, _, attribute = target.partition(':')
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def key_rows(keys) -> List[Tuple[str, str, str, str, str]]:
    """One row per key: (``[section] name``, env var, default, type, meaning)."""
    return [('[{}] {}'.format(key.section, key.name), key.env or '',
             key.default if key.default != '' else '(empty)',
             TYPE_WORDS.get(key.type, key.type), key.help) for key in keys]


def parser_for(target: str, kind: str = 'server') -> argparse.ArgumentParser:
    """The argument parser ``target`` names (see the module docstring)."""
    from pacifica.common import cli  # pylint: disable=import-outside-toplevel
    obj = resolve(target)
    if isinstance(obj, argparse.ArgumentParser):
        return obj
    if isinstance(obj, cli.Service):
        if kind not in ('server', 'admin'):
            raise ValueError('kind must be server or admin, not {!r}'.format(kind))
        return cli.server_parser(obj) if kind == 'server' else cli.admin_parser(obj)
    built = obj()
    if not isinstance(built, argparse.ArgumentParser):
        raise ValueError('{} did not return an ArgumentParser'.format(target))
    return built


def _option_rows(parser) -> List[Tuple[str, str]]:
    formatter = parser._get_formatter()  # pylint: disable=protected-access
    rows = []
    for action in parser._actions:  # pylint: disable=protected-access
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
            continue
        if action.option_strings:
            metavar = ''
            if action.nargs != 0:
                metavar = ' ' + formatter._format_args(  # pylint: disable=protected-access
                    action, action.dest.upper())
            name = ', '.join(opt + metavar for opt in action.option_strings)
        else:
            name = formatter._format_args(action, action.dest)  # pylint: disable=protected-access
        rows.append((name, formatter._expand_help(action) if action.help else ''))  # pylint: disable=protected-access
    return rows


def program_model(parser) -> Dict[str, Any]:
    """What the manual shows of a program: usage, description, epilog, options and, for
    each subcommand, the same again."""
    model = {
        'prog': parser.prog,
        'usage': parser.format_usage().strip(),
        'description': parser.description or '',
        'epilog': parser.epilog or '',
        'options': _option_rows(parser),
        'subcommands': [],
    }
    for action in parser._actions:  # pylint: disable=protected-access
        if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
            helps = {choice.dest: choice.help for choice in action._choices_actions}  # pylint: disable=protected-access
            for name, sub in action.choices.items():
                child = program_model(sub)
                child['help'] = helps.get(name) or ''
                child['name'] = name
                model['subcommands'].append(child)
    return model


def api_modules(package: str) -> List[str]:
    """Every module of ``package`` (itself first), sorted, except its ``wsgi`` and
    ``__main__`` modules: importing ``wsgi`` builds the application from the environment's
    configuration, which a documentation build must not do."""
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, package + '.'):
        last = info.name.rsplit('.', 1)[-1]
        if last not in ('wsgi', '__main__'):
            names.append(info.name)
    return sorted(names)


def relative_target(module: str, target: str, is_package: bool) -> str:
    """The absolute name of a reference written relative to ``module`` as Python's relative
    imports are (``.rest`` in ``pacifica.cartd.openapi`` is ``pacifica.cartd.rest``); the
    docstrings of this project use that spelling. ``target`` comes without its first dot."""
    base = module if is_package else module.rpartition('.')[0]
    while target.startswith('.'):             # each further dot: one package up
        base, target = base.rpartition('.')[0], target[1:]
    return '{}.{}'.format(base, target) if base else target


def setup(app):
    """Register the directives (the Sphinx imports live here, so the rest works without)."""
    # pylint: disable=import-outside-toplevel
    from docutils import nodes
    from docutils.parsers.rst import directives
    from sphinx import addnodes
    from sphinx.transforms.post_transforms import SphinxPostTransform
    from sphinx.util.docutils import SphinxDirective

    class RelativeReferences(SphinxPostTransform):
        """Resolve ``:mod:`.rest``` and the like relative to the documented module.

        Sphinx reads a leading dot as "any object whose name ends so", which is ambiguous
        in a project where every service has its ``rest`` module. Runs before Sphinx's own
        reference resolver (priority 10), when every object of the build is known.
        """

        default_priority = 5

        def run(self, **_kwargs):
            domain = self.env.get_domain('py')
            known = set(domain.objects) | set(domain.modules)
            for node in self.document.findall(addnodes.pending_xref):
                module = node.get('py:module')
                if node.get('refdomain') != 'py' or not node.get('refspecific') or not module:
                    continue
                spec = importlib.util.find_spec(module)
                is_package = spec is not None and spec.submodule_search_locations is not None
                absolute = relative_target(module, node['reftarget'], is_package)
                if absolute in known:
                    node['reftarget'] = absolute
                    node['refspecific'] = False


    def table(headers, rows, widths):
        tgroup = nodes.tgroup(cols=len(headers))
        for width in widths:
            tgroup += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += _row(headers)
        tgroup += head
        body = nodes.tbody()
        for row in rows:
            body += _row(row)
        tgroup += body
        result = nodes.table()
        result += tgroup
        return result

    def _row(cells):
        row = nodes.row()
        for index, text in enumerate(cells):
            entry = nodes.entry()
            para = nodes.paragraph()
            if text and index < 3:
                para += nodes.literal(text, text)
            else:
                para += nodes.Text(text)
            entry += para
            row += entry
        return row

    def options_list(rows):
        items = nodes.definition_list()
        for name, help_text in rows:
            item = nodes.definition_list_item()
            term = nodes.term()
            term += nodes.literal(name, name)
            item += term
            definition = nodes.definition()
            definition += nodes.paragraph(help_text, help_text)
            item += definition
            items += item
        return items

    def program_nodes(model, title=None):
        out = []
        if title:
            out.append(nodes.rubric(title, title))
        if model.get('help'):
            out.append(nodes.paragraph(model['help'], model['help']))
        out.append(nodes.literal_block(model['usage'], model['usage']))
        if model['description'] and not model.get('help'):
            out.append(nodes.paragraph(model['description'], model['description']))
        if model['options']:
            out.append(options_list(model['options']))
        if model['epilog']:
            out.append(nodes.paragraph(model['epilog'], model['epilog']))
        for sub in model['subcommands']:
            out.extend(program_nodes(sub, '{} {}'.format(model['prog'], sub['name'])))
        return out

    class ConfigDirective(SphinxDirective):
        """``.. pacifica-config:: module`` with ``:attribute: KEYS``."""

        required_arguments = 1
        option_spec = {'attribute': directives.unchanged}

        def run(self):
            keys = getattr(resolve(self.arguments[0]), self.options.get('attribute', 'KEYS'))
            return [table(('key', 'environment variable', 'default', 'type', 'meaning'),
                          key_rows(keys), (22, 24, 22, 10, 40))]

    class ProgramDirective(SphinxDirective):
        """``.. pacifica-program:: module:object`` with ``:kind: server|admin``."""

        required_arguments = 1
        option_spec = {'kind': directives.unchanged}

        def run(self):
            parser = parser_for(self.arguments[0], self.options.get('kind', 'server'))
            return program_nodes(program_model(parser))

    class ApiDirective(SphinxDirective):
        """``.. pacifica-api:: package``: autodoc of every module of the package."""

        required_arguments = 1

        def run(self):
            from docutils.statemachine import StringList
            from sphinx.util.nodes import nested_parse_with_titles
            lines = []
            for name in api_modules(self.arguments[0]):
                lines += ['.. rubric:: ``{}``'.format(name), '',
                          '.. automodule:: {}'.format(name), '']
            container = nodes.section()
            container.document = self.state.document
            nested_parse_with_titles(self.state, StringList(lines, source=self.arguments[0]),
                                     container)
            return container.children

    app.add_post_transform(RelativeReferences)
    app.add_directive('pacifica-config', ConfigDirective)
    app.add_directive('pacifica-api', ApiDirective)
    app.add_directive('pacifica-program', ProgramDirective)
    return {'parallel_read_safe': True, 'parallel_write_safe': True, 'version': '1'}
