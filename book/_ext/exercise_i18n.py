"""Translate the titles of exercises: ``{exercise} Write the mel filterbank`` reads in Chinese too.

sphinx-exercise parses an exercise's argument into an ``exercise_subtitle`` node (a docutils
``subtitle``) without a ``source``, ``line`` or ``rawsource``. Sphinx takes a text node without a source
for a built-in string (``sphinx.util.nodes.is_translatable``) and reads a message from ``rawsource``
(``extract_messages``), so neither the gettext builder nor the ``Locale`` transform (priority 20), which
puts the translations in, ever sees the title: the Chinese edition showed it in English.

``TranslatableExerciseTitles`` (priority 15, before ``Locale``) gives every subtitle the source and line
of its exercise's title, which MyST does set, and as ``rawsource`` the MyST text of the argument, written
back from the parsed nodes (``myst_source``: text, ``code``, ``$math$``, ``*emphasis*``, ``**strong**``).
A title with other markup (a role, a link) cannot be written back faithfully: it stays untranslatable
and a warning names it, which fails the ``-W`` build. (A title with code needs a ``~~~`` or ``:::``
fence: CommonMark allows no backtick in the info string of a backtick fence.)

The gettext builder reads its messages later, from the resolved page, where sphinx-exercise's
``ResolveTitlesInExercises`` (post-transform, priority 20) has already replaced the subtitle by a plain
title ("Exercise 3 (…)"). ``ExtractableExerciseTitles`` (gettext builder only, priority 10) first wraps
the subtitle's content in one translatable ``inline`` node with the same message, source, line and uid,
which moves into that title intact, so the message is extracted; the other builders' pages are untouched.

A solution's title ("Solution to Exercise 3 (the exercise's title)") is built after reading, from the
copy of the exercise that sphinx-exercise keeps in ``env.sphinx_exercise_registry``, taken when the
directive ran, before any translation. ``TranslatedTitlesInRegistry`` (priority 25, after ``Locale``)
puts the translated title into that copy, so the solution's title reads in the page's language too.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.transforms import SphinxTransform
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx_exercise.nodes import exercise_subtitle

logger = logging.getLogger(__name__)

# The MyST delimiters of the inline markup that an exercise title may hold.
DELIMITERS = {nodes.literal: "`", nodes.math: "$", nodes.emphasis: "*", nodes.strong: "**"}


def myst_source(subtitle: nodes.Element) -> str | None:
    """The MyST text that parses into ``subtitle``'s children, or None for markup outside DELIMITERS."""
    parts = []
    for child in subtitle.children:
        if isinstance(child, nodes.Text):
            parts.append(child.astext())
        elif type(child) in DELIMITERS and all(isinstance(c, nodes.Text) for c in child.children):
            mark = DELIMITERS[type(child)]
            parts.append(f"{mark}{child.astext()}{mark}")
        else:
            return None
    return "".join(parts)


class TranslatableExerciseTitles(SphinxTransform):
    """Give each exercise title the source, line and raw text that Sphinx's i18n needs (see above)."""
    default_priority = 15  # before sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs) -> None:
        for subtitle in self.document.findall(exercise_subtitle):
            text = myst_source(subtitle)
            if text is None:
                logger.warning("exercise title %r holds markup that cannot be translated "
                               "(only code, math, emphasis and strong can)", subtitle.astext(),
                               location=subtitle.parent)
                continue
            subtitle.rawsource = text
            subtitle.source = subtitle.parent.source or self.document["source"]
            subtitle.line = subtitle.parent.line


class TranslatedTitlesInRegistry(SphinxTransform):
    """Copy each exercise's (translated) title into sphinx-exercise's registry, for its solutions."""
    default_priority = 25  # after sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs) -> None:
        registry = getattr(self.env, "sphinx_exercise_registry", {})
        for subtitle in self.document.findall(exercise_subtitle):
            entry = registry.get(subtitle.parent.parent.get("label"))
            if entry is None:
                continue
            for kept in entry["node"].findall(exercise_subtitle):
                kept.children = []
                kept.extend(child.deepcopy() for child in subtitle.children)


class ExtractableExerciseTitles(SphinxPostTransform):
    """gettext only: wrap each title's content in a translatable inline that outlives its subtitle."""
    default_priority = 10  # before sphinx_exercise.post_transforms.ResolveTitlesInExercises (20)
    builders = ("gettext",)

    def run(self, **kwargs) -> None:
        for subtitle in self.document.findall(exercise_subtitle):
            if not subtitle.source:  # left untranslatable by TranslatableExerciseTitles
                continue
            message = nodes.inline(subtitle.rawsource, "", *subtitle.children, translatable=True)
            message.source, message.line = subtitle.source, subtitle.line
            # the gettext builder's UIDTransform gave the subtitle an id; messages without one are skipped
            message.uid = getattr(subtitle, "uid", "")
            subtitle.children = []
            subtitle += message


def setup(app):
    app.setup_extension("sphinx_exercise")
    app.add_transform(TranslatableExerciseTitles)
    app.add_transform(TranslatedTitlesInRegistry)
    app.add_post_transform(ExtractableExerciseTitles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
