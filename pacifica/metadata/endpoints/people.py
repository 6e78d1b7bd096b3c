"""``/userinfo``, ``/projectinfo``, ``/instrumentinfo`` (spec 3-5)."""
from ..queries import people
from . import declare as d
from .base import Container, Get, Post

OPTION = d.Arg('option', d.OPTION_SIMPLE)


def userinfo():
    """The ``/userinfo`` tree."""
    tree = Container()
    tree.by_id = Get(people.user_by_id,
                     d.Arg('person_id', d.ID, 'the user id (the first term that starts '
                                              'with a digit is used)', required=True),
                     OPTION, answer={'anyOf': [d.USER, d.SIMPLE_USER]})
    tree.by_user_id = tree.by_id
    tree.search = Get(people.user_search, d.Arg('search_term', d.TERMS, required=True),
                      OPTION, answer=d.array({'anyOf': [d.USER, d.SIMPLE_USER]}))
    return tree


def projectinfo():
    """The ``/projectinfo`` tree."""
    tree = Container()
    tree.by_project_id = Get(
        people.project_by_id, d.Arg('project_id', d.TEXT, required=True),
        answer={'allOf': [d.PROJECT, d.record({'instruments': d.keyed(
            d.PROJECT_INSTRUMENT, 'instruments of its uploads, by id')})]})
    tree.search = Get(people.project_search, d.Arg('search_term', d.TERMS, required=True),
                      answer=d.array(d.PROJECT))
    tree.by_user_id = Get(people.projects_by_user,
                          d.Arg('user_id', d.ID, 'the first run of digits is used',
                                required=True), answer=d.array(d.PROJECT))
    tree.has_data = Post(people.has_data, body=d.PROJECT_IDS, answer=d.HAS_DATA)
    return tree


def instrumentinfo():
    """The ``/instrumentinfo`` tree."""
    tree = Container()
    tree.by_instrument_id = Get(people.instrument_by_id,
                                d.Arg('instrument_id', d.ID, required=True),
                                answer=d.INSTRUMENT)
    tree.search = Get(people.instrument_search,
                      d.Arg('search_term', d.TERMS, 'no terms: an empty list'),
                      answer=d.array(d.INSTRUMENT))
    tree.by_user_id = Get(people.instruments_by_user, d.Arg('user_id', d.ID, required=True),
                          answer=d.array(d.INSTRUMENT))
    tree.categories = Get(people.categories, answer=d.CATEGORIES)
    return tree
