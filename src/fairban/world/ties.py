"""The general ties between people: family, colleagues, classmates and friends, mostly
local, a few far away; some friendships start inside the window."""

from __future__ import annotations

import numpy as np

from fairban.world.population import CLASSMATE, COLLEAGUE, FAMILY, FRIEND, _Builder
from fairban.world.roles import Role

#: the roles that get general ties; operators, collectors, mules, their relatives,
#: area residents, police and P6's classmates get only the ties of their own part,
#: and so do the seed personas
TIED_ROLES = frozenset(
    int(role)
    for role in (
        Role.ORDINARY,
        Role.STUDENT,
        Role.MERCHANT,
        Role.TOURIST,
        Role.SALES,
        Role.VICTIM,
        Role.RESOLD_DEVICE,
        Role.SELLER,
        Role.BORDER_RESIDENT,
        Role.TRADER,
    )
)


def add_general_ties(builder: _Builder, rng: np.random.Generator) -> None:
    """Per town: families of 2-5, up to 3 colleagues a worker, up to 5 classmates a
    student, 3 friends each and, for half, a friend anywhere; then 5% of all ties
    become friendships started on a day of the window (they begin with a friend_add)."""
    roles = np.asarray(builder.p_role)
    homes = np.asarray(builder.p_home)
    eligible = np.array(
        [i for i in range(len(roles)) if int(roles[i]) in TIED_ROLES and not builder.p_persona[i]]
    )
    by_home = eligible[np.argsort(homes[eligible], kind="stable")]
    towns: dict[int, np.ndarray] = {}
    if len(by_home):
        splits = np.flatnonzero(np.diff(homes[by_home])) + 1
        for people in np.split(by_home, splits):
            towns[int(homes[people[0]])] = people
    for people in towns.values():
        shuffled = rng.permutation(people)
        # families of 2-5
        i = 0
        while i < len(shuffled):
            size = int(rng.integers(2, 6))
            family = shuffled[i : i + size]
            for x in range(len(family)):
                for y in range(x + 1, len(family)):
                    builder.tie(int(family[x]), int(family[y]), FAMILY)
            i += size
        students = [p for p in shuffled if roles[p] == Role.STUDENT]
        workers = [p for p in shuffled if roles[p] != Role.STUDENT]
        for pool, kind, k in ((workers, COLLEAGUE, 3), (students, CLASSMATE, 5)):
            if len(pool) < 2:
                continue
            for person in pool:
                for other in rng.choice(pool, size=min(k, len(pool)), replace=False):
                    builder.tie(int(person), int(other), kind)
        for person in shuffled:
            for other in rng.choice(shuffled, size=min(3, len(shuffled)), replace=False):
                builder.tie(int(person), int(other), FRIEND)
            if rng.random() < 0.5 and len(eligible):
                builder.tie(int(person), int(rng.choice(eligible)), FRIEND)
    # new friendships during the window start with a friend_add
    for i in range(len(builder.ties)):
        if rng.random() < 0.05:
            a, b, kind, _ = builder.ties[i]
            builder.ties[i] = (a, b, kind, int(rng.integers(0, builder.days)))
