"""``/userinfo``, ``/projectinfo`` and ``/instrumentinfo`` (spec 3-5): lookups and searches
of users, projects and instruments, the blocks pacifica-policy reads.

Section 18 fixes applied: ids must be whole numbers (``10abc`` is a 400, not a 500), project
ids are free strings, numeric search terms compare the id as text portably (no TO_CHAR),
deleted rows are hidden, and projects are listed once with every column.
"""
import re
from collections import defaultdict

from ..orm import (Groups, InstrumentGroup, Instruments, ProjectInstrument, ProjectUser,
                   Projects, TransSIP, Users)
from .blocks import (chunks, contains, instrument_blocks, live, project_block, terms_of,
                     user_blocks)
from .reasons import fail

MAX_ID_DIGITS = 18   # anything longer cannot be a bigint id
HAS_DATA_LIMIT = 10


def _numeric(term):
    return term.isascii() and term.isdigit() and len(term) <= MAX_ID_DIGITS


def _id_matches(field, term):
    """For a numeric term: the id equals it, or its decimal text contains it."""
    return (field == int(term)) | field.cast('TEXT').contains(term)


def _quoted(terms):
    return ' and '.join("'{}'".format(term) for term in terms)


def _search(model, columns, terms, numeric_id=True):
    where = None
    for term in terms:
        clause = None
        for column in columns:
            clause = contains(column, term) if clause is None else clause | contains(column,
                                                                                   term)
        if numeric_id and _numeric(term):
            clause = clause | _id_matches(model.id, term)
        where = clause if where is None else where & clause
    return model.select().where(where & live(model))


# -- users ---------------------------------------------------------------------------------
LOOKUP_HELP = ('You must supply a numeric person id (/userinfo/by_id/<person_id>) or use '
               'the search form (/userinfo/search/<terms>).')


def user_by_id(person_id, option=None):
    """``/userinfo/by_id``: one user block."""
    term = next((t for t in terms_of(person_id) if t[:1].isdigit()), None)
    if term is None or not _numeric(term):
        fail(400, 'Invalid Lookup Options', LOOKUP_HELP)
    user = Users.get_or_none((Users.id == int(term)) & live(Users))
    if user is None:
        fail(404, 'Not Found', 'No User with an ID of {} was found'.format(term))
    return user_blocks([user], simple=option == 'simple')[0]


def user_search(search_term, option=None):
    """``/userinfo/search``: the users every term matches, by last then first name."""
    terms = terms_of(search_term)
    if not terms:
        fail(400, 'Invalid Request Options',
             'You must supply search terms (/userinfo/search/<terms>[/simple]).')
    users = list(_search(Users, (Users.first_name, Users.last_name, Users.network_id,
                                 Users.email_address), terms)
                 .order_by(Users.last_name, Users.first_name, Users.id))
    if not users:
        fail(404, 'No Valid Users Located',
             'No user entries were retrieved using the terms: {}'.format(_quoted(terms)))
    return user_blocks(users, simple=option == 'simple')


def _user_id(user_id):
    """The first run of digits in ``user_id`` (``user10`` -> 10), or a 400."""
    if user_id is None or user_id == '':
        fail(400, 'Invalid User ID', 'No user ID specified')
    found = re.search(r'[0-9]+', user_id)
    if not found or len(found.group()) > MAX_ID_DIGITS:
        fail(400, 'Invalid User ID', '"{}" is not a valid user ID'.format(user_id))
    uid = int(found.group())
    if not Users.select(Users.id).where((Users.id == uid) & live(Users)).exists():
        fail(404, 'User Does Not Exist', 'No User with ID:{} exists in the system'.format(uid))
    return uid


# -- projects ------------------------------------------------------------------------------
def project_by_id(project_id):
    """``/projectinfo/by_project_id``: the project block with the instruments its
    transactions used."""
    if not project_id:
        fail(400, 'Invalid Request Options',
             'You must supply a project id (/projectinfo/by_project_id/<project_id>).')
    project = Projects.get_or_none((Projects.id == project_id) & live(Projects))
    if project is None:
        fail(404, 'Not Found', 'No Project with an ID of {} was found'.format(project_id))
    block = project_block(project)
    rows = (Instruments.select().join(TransSIP, on=(TransSIP.instrument == Instruments.id))
            .where((TransSIP.project == project.id) & live(TransSIP) & live(Instruments))
            .distinct().order_by(Instruments.id))
    block['instruments'] = {
        str(inst.id): {'id': inst.id, 'display_name': inst.display_name, 'name': inst.name,
                       'name_short': inst.name_short, 'active': inst.active}
        for inst in rows}
    return block


def project_search(search_term):
    """``/projectinfo/search``: project blocks whose title or id matches every term."""
    terms = terms_of(search_term)
    if not terms:
        fail(400, 'No Search Terms Provided',
             'You must supply search terms (/projectinfo/search/<terms>).')
    projects = list(_search(Projects, (Projects.title, Projects.id), terms, numeric_id=False)
                    .order_by(Projects.title, Projects.id))
    if not projects:
        fail(404, 'No Valid Projects Located',
             'No project entries were retrieved using the terms: {}'.format(_quoted(terms)))
    return [project_block(project) for project in projects]


def projects_by_user(user_id):
    """``/projectinfo/by_user_id``: each of the user's projects once, by title."""
    uid = _user_id(user_id)
    linked = ProjectUser.select(ProjectUser.project).where(
        (ProjectUser.user == uid) & live(ProjectUser))
    projects = Projects.select().where(Projects.id.in_(linked) & live(Projects)).order_by(
        Projects.title, Projects.id)
    return [project_block(project) for project in projects]


def _id_list(body, what):
    if not isinstance(body, list) or not all(
            isinstance(item, (str, int)) and not isinstance(item, bool) for item in body):
        fail(400, 'Bad Request', 'the body must be a JSON array of {}'.format(what))
    return [str(item) for item in body]


def has_data(body):
    """``POST /projectinfo/has_data``: per project, per instrument, the span of its ten most
    recent uploads. One query for all projects."""
    projects = _id_list(body, 'project ids')
    found = {pid: defaultdict(list) for pid in projects}
    for chunk in chunks(set(projects)):
        rows = (TransSIP.select(TransSIP.project, TransSIP.instrument, TransSIP.created)
                .where(TransSIP.project.in_(chunk) & live(TransSIP))
                .order_by(TransSIP.project, TransSIP.instrument, TransSIP.created.desc())
                .tuples())
        for pid, iid, created in rows:
            if len(found[pid][iid]) < HAS_DATA_LIMIT:
                found[pid][iid].append(created)
    return {pid: [{'instrument': iid, 'end_time': times[0].isoformat(),
                   'start_time': times[-1].isoformat(), 'num_results': len(times)}
                  for iid, times in sorted(found[pid].items())]
            for pid in projects}


# -- instruments ---------------------------------------------------------------------------
def instrument_by_id(instrument_id):
    """``/instrumentinfo/by_instrument_id``: one instrument block."""
    if not instrument_id or not _numeric(instrument_id):
        fail(400, 'Invalid Request Options',
             'You must supply a numeric instrument id '
             '(/instrumentinfo/by_instrument_id/<instrument_id>).')
    inst = Instruments.get_or_none((Instruments.id == int(instrument_id)) & live(Instruments))
    if inst is None:
        fail(404, 'Not Found', 'No Instrument with an ID of {} was found'.format(instrument_id))
    return instrument_blocks([inst])[0]


def instrument_search(search_term):
    """``/instrumentinfo/search``: instrument blocks matching every term (``[]`` for none)."""
    terms = terms_of(search_term)
    if not terms:
        return []
    instruments = list(_search(Instruments, (Instruments.display_name, Instruments.name_short,
                                             Instruments.name), terms)
                       .order_by(Instruments.name_short, Instruments.id))
    if not instruments:
        fail(404, 'No Valid Instruments Located',
             'No instrument entries were retrieved using the terms: {}'.format(
                 _quoted(terms)))
    return instrument_blocks(instruments)


def instruments_by_user(user_id):
    """``/instrumentinfo/by_user_id``: instruments declared for the user's projects."""
    if not user_id or not _numeric(user_id):
        fail(400, 'Invalid User ID', '"{}" is not a valid user ID'.format(user_id or ''))
    uid = _user_id(user_id)
    projects = ProjectUser.select(ProjectUser.project).where(
        (ProjectUser.user == uid) & live(ProjectUser))
    linked = ProjectInstrument.select(ProjectInstrument.instrument).where(
        ProjectInstrument.project.in_(projects) & live(ProjectInstrument))
    instruments = Instruments.select().where(Instruments.id.in_(linked) & live(Instruments))
    return instrument_blocks(list(instruments.order_by(Instruments.display_name,
                                                       Instruments.id)))


def categories():
    """``/instrumentinfo/categories``: each group with instruments, by group id."""
    rows = (InstrumentGroup.select(Groups.id, Groups.name, InstrumentGroup.instrument)
            .join(Groups).switch(InstrumentGroup).join(Instruments)
            .where(live(InstrumentGroup) & live(Groups) & live(Instruments))
            .order_by(Groups.id, InstrumentGroup.instrument).tuples())
    found = {}
    for gid, name, iid in rows:
        found.setdefault(gid, {'category': name, 'instrument_list': []})
        found[gid]['instrument_list'].append(iid)
    return list(found.values())

