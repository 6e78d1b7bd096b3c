"""``/migrate`` (spec 12): bulk exports of instruments, projects and users with the ids
they link to. One query per table involved, whatever the number of rows (upstream: one lazy
query per link row); deleted rows and links are left out (spec 18.4) and duplicates
removed (spec 18.5)."""
from collections import defaultdict

from ..orm import (InstitutionUser, Instruments, InstrumentUser, ProjectInstrument,
                   ProjectUser, Projects, Users)
from .blocks import instrument_blocks, live, project_block, user_blocks


def _links(model, left, right):
    """left id -> [right ids], distinct, ordered by the right id, over live links."""
    found = defaultdict(list)
    rows = (model.select(left, right).where(live(model)).distinct()
            .order_by(left, right).tuples())
    for one, other in rows:
        found[one].append(other)
    return found


def instruments():
    """``/migrate/instruments``."""
    rows = list(Instruments.select().where(live(Instruments)).order_by(Instruments.id))
    projects = _links(ProjectInstrument, ProjectInstrument.instrument,
                      ProjectInstrument.project)
    return {str(block['id']): dict(block, projects=projects.get(block['id'], []))
            for block in instrument_blocks(rows)}


def projects():
    """``/migrate/projects``."""
    instruments_of = _links(ProjectInstrument, ProjectInstrument.project,
                            ProjectInstrument.instrument)
    users_of = _links(ProjectUser, ProjectUser.project, ProjectUser.user)
    result = {}
    for row in Projects.select().where(live(Projects)).order_by(Projects.id):
        block = project_block(row)
        block.update(abstract=row.abstract, instruments=instruments_of.get(row.id, []),
                     users=users_of.get(row.id, []))
        result[row.id] = block
    return result


def users():
    """``/migrate/users``."""
    rows = list(Users.select().where(live(Users)).order_by(Users.id))
    projects_of = _links(ProjectUser, ProjectUser.user, ProjectUser.project)
    instruments_of = _links(InstrumentUser, InstrumentUser.user, InstrumentUser.instrument)
    institutions_of = _links(InstitutionUser, InstitutionUser.user,
                             InstitutionUser.institution)
    return {str(block['user_id']): dict(block, projects=projects_of.get(block['user_id'], []),
                                        instruments=instruments_of.get(block['user_id'], []),
                                        institutions=institutions_of.get(block['user_id'], []))
            for block in user_blocks(rows, simple=True)}
