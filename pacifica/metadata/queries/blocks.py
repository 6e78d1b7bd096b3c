"""The JSON blocks several endpoints share (spec 0.8): users, projects, instruments.

Each builder takes rows already selected and adds what they need with one batched query per
kind of link (never one per row). Soft-deleted rows are hidden everywhere (spec 18.4).
"""
import datetime
import re
from collections import defaultdict

from pacifica.common.database import peewee

from ..orm import (Groups, InstrumentGroup, ProjectUser, Projects, UserGroup, Users)
from .reasons import fail

IN_CHUNK = 5000
MAX_TERMS = 32
TERM_SPLIT = re.compile(r'[+ ,;]+')


def chunks(items, size=IN_CHUNK):
    """``items`` in lists of at most ``size``."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def terms_of(text):
    """Search terms: split on any run of ``+``, space, ``,`` or ``;``; at most
    :data:`MAX_TERMS` of them (each one adds a clause to the query)."""
    terms = [term for term in TERM_SPLIT.split(text or '') if term]
    if len(terms) > MAX_TERMS:
        fail(400, 'Bad Request', 'at most {} search terms are accepted, got '
             '{}'.format(MAX_TERMS, len(terms)))
    return terms


def contains(field, term):
    """Case-insensitive substring match, the same SQL on SQLite and PostgreSQL (LOWER +
    LIKE with the wildcards of ``term`` escaped; SQLite lower-cases ASCII only)."""
    escaped = term.lower().replace('!', '!!').replace('%', '!%').replace('_', '!_')
    return peewee.NodeList((peewee.fn.LOWER(field), peewee.SQL('LIKE'),
                            peewee.Value('%' + escaped + '%'), peewee.SQL("ESCAPE '!'")))


def iso(value):
    """ISO text of a datetime/date (None stays None)."""
    return value.isoformat() if value is not None else None


def live(model):
    """The soft-delete rule: a row is visible while ``deleted`` is null."""
    return model.deleted.is_null()


# -- users ---------------------------------------------------------------------------------
def _simple_user(user, employees):
    return {
        'user_id': user.id, 'person_id': user.id, 'first_name': user.first_name,
        'last_name': user.last_name,
        'display_name': '{} {}'.format(user.first_name, user.last_name),
        'email_address': user.email_address, 'emsl_employee': user.id in employees,
    }


def employees_of(user_ids):
    """Users with a live group membership. ``emsl_employee`` keeps the upstream meaning (any
    group, not only the admin group) because pacifica-policy grants visibility on it."""
    found = set()
    for chunk in chunks(set(user_ids)):
        found.update(uid for (uid,) in UserGroup.select(UserGroup.user).join(Groups).where(
            UserGroup.user.in_(chunk) & live(UserGroup) & live(Groups)).tuples())
    return found


def user_projects(user_ids):
    """user id -> {project id: project summary} over live project_user links."""
    found = defaultdict(dict)
    for chunk in chunks(set(user_ids)):
        rows = (ProjectUser.select(ProjectUser.user, Projects.id, Projects.title,
                                   Projects.short_name, Projects.project_type,
                                   Projects.science_theme)
                .join(Projects).where(ProjectUser.user.in_(chunk) & live(ProjectUser) &
                                      live(Projects))
                .order_by(ProjectUser.user, Projects.id).tuples())
        for uid, pid, title, short, ptype, theme in rows:
            found[uid][pid] = {'id': pid, 'title': title, 'short_name': short,
                               'project_type': ptype, 'science_theme': theme}
    return found


def user_blocks(users, simple=False):
    """The full (or ``simple``) user blocks of ``users`` (Users rows), in their order."""
    ids = [user.id for user in users]
    employees = employees_of(ids)
    if simple:
        return [_simple_user(user, employees) for user in users]
    projects = user_projects(ids)
    blocks = []
    for user in users:
        email = (user.email_address or '').lower()
        blocks.append({
            'category': (user.last_name or '')[:1], 'user_id': user.id, 'person_id': user.id,
            'first_name': user.first_name, 'last_name': user.last_name,
            'network_id': user.network_id.lower() if user.network_id else None,
            'email_address': email, 'last_updated': iso(user.updated),
            'display_name': '[User ID {}] {} {} &lt;{}&gt;'.format(
                user.id, user.first_name, user.last_name, email),
            'simple_display_name': '{} {}'.format(user.first_name, user.last_name),
            'emsl_employee': user.id in employees,
            'projects': projects.get(user.id, {}),
        })
    return blocks


# -- projects ------------------------------------------------------------------------------
def _day(value):
    return value.isoformat() if value else '---'


def project_block(project, today=None):
    """The project block (without ``instruments``) of a Projects row."""
    today = today or datetime.date.today()
    start, end, closed = project.actual_start_date, project.actual_end_date, project.closed_date
    effective = min(end, closed) if end and closed else (closed or end)
    started = start is not None and start < today
    ended = started and effective is not None and effective < today
    state = 'pre_active' if not started else ('closed' if ended else 'active')
    if start is None and effective is None:
        state = 'invalid'
    title = project.title if project.title is not None else '<Title Unspecified>'
    return {
        'id': project.id, 'title': title,
        'category': effective.year if effective else 'Unknown',
        'display_name': '[Project {}]: {}'.format(project.id, title),
        'currently_active': state == 'active', 'state': state,
        'start_date': _day(start), 'end_date': _day(effective), 'closed_date': _day(closed),
        'science_theme': project.science_theme,
        # a null project type was a 500 upstream (spec 18.7); it reads as empty here
        'project_type': (project.project_type or '').lower().title(),
    }


# -- instruments ---------------------------------------------------------------------------
def instrument_groups(instrument_ids):
    """instrument id -> group names (live links and groups, by group id)."""
    found = defaultdict(list)
    for chunk in chunks(set(instrument_ids)):
        rows = (InstrumentGroup.select(InstrumentGroup.instrument, Groups.name)
                .join(Groups).where(InstrumentGroup.instrument.in_(chunk) &
                                    live(InstrumentGroup) & live(Groups))
                .order_by(InstrumentGroup.instrument, Groups.id).tuples())
        for iid, name in rows:
            found[iid].append(name)
    return found


def instrument_blocks(instruments):
    """The instrument blocks of ``instruments`` (Instruments rows), in their order."""
    groups = instrument_groups(inst.id for inst in instruments)
    blocks = []
    for inst in instruments:
        names = groups.get(inst.id, [])
        category = names[0] if names else 'Miscellaneous'
        blocks.append({
            'id': inst.id, 'category': category, 'groups': names,
            'display_name': '[{} / ID:{}] {}'.format(category, inst.id, inst.name),
            'name': inst.name, 'name_short': inst.name_short, 'active': inst.active,
        })
    return blocks


def live_users(ids):
    """Users rows by id (live only)."""
    return {user.id: user for chunk in chunks(set(ids))
            for user in Users.select().where(Users.id.in_(chunk) & live(Users))}
