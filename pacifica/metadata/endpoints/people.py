"""``/userinfo``, ``/projectinfo``, ``/instrumentinfo`` (spec 3-5)."""
from ..queries import people
from .base import Container, Get, Post


def userinfo():
    """The ``/userinfo`` tree."""
    tree = Container()
    tree.by_id = Get(people.user_by_id, 'person_id', 'option')
    tree.by_user_id = tree.by_id
    tree.search = Get(people.user_search, 'search_term', 'option')
    return tree


def projectinfo():
    """The ``/projectinfo`` tree."""
    tree = Container()
    tree.by_project_id = Get(people.project_by_id, 'project_id')
    tree.search = Get(people.project_search, 'search_term')
    tree.by_user_id = Get(people.projects_by_user, 'user_id')
    tree.has_data = Post(people.has_data)
    return tree


def instrumentinfo():
    """The ``/instrumentinfo`` tree."""
    tree = Container()
    tree.by_instrument_id = Get(people.instrument_by_id, 'instrument_id')
    tree.search = Get(people.instrument_search, 'search_term')
    tree.by_user_id = Get(people.instruments_by_user, 'user_id')
    tree.categories = Get(people.categories)
    return tree
