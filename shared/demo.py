"""`flask demo`: a made-up middle school to try passline with.

It loads Lincoln Middle School (demo): about 600 students in grades 6 to 8, 30
teachers with classes in a bell schedule, classrooms and hall-pass destinations,
families with car tag numbers (siblings and a few carpools), and one account per
role, all with the password `passline-demo`. The people come from the name lists
below and a fixed random seed, so every load is the same. The blueprints add their part
(destinations, weeks of pass and dismissal history) as demo loaders
(shared/contributions.py); each loader draws from a random generator of its own, seeded
from SEED and its name, so its data does not depend on which other blueprints load. It
refuses to touch a database that holds real data, and pages of the demo school carry a
banner. Most of its length is those name lists and the school's bell times: data, kept
beside the code that draws from it.

Why one module: it is the demo school's one script, read top to bottom (school,
staff, rooms, classes, students, families); the blueprints add their history through
their own demo loaders.
"""

import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import time
from itertools import count

import click
from sqlalchemy import func, select

from shared import audit
from shared.contributions import contributions
from shared.database import refresh_statistics
from shared.errors import Conflict
from shared.extensions import db
from shared.models import (
    ROLE_LABELS,
    BellPeriod,
    Enrollment,
    Family,
    Membership,
    Room,
    School,
    SchoolClass,
    Student,
    User,
)
from shared.passwords import hash_password

SCHOOL_NAME = "Lincoln Middle School (demo)"
SCHOOL_CODE = "DEMO"
SCHOOL_TIMEZONE = "America/Chicago"
PASSWORD = "passline-demo"  # noqa: S105  (published: every demo account has it)
SEED = 1865

#: The accounts to sign in with, one per role and the counselor: (email, name, role).
ROLE_ACCOUNTS = (
    ("admin@example.org", "Avery Admin", "admin"),
    ("office@example.org", "Olivia Office", "office"),
    ("teacher@example.org", "Terry Teacher", "teacher"),
    ("staff@example.org", "Sam Staff", "staff"),
    # The counselor: staff who schedules appointments (hallpass/demo_appointments.py).
    ("counselor@example.org", "Casey Counselor", "staff"),
)
COUNSELOR_EMAIL = "counselor@example.org"

SUBJECTS = ("Math", "English", "Science", "Social Studies", "PE", "Art", "Spanish")

#: The teachers: (email, name, subject). The first is the teacher role account; each
#: teacher has a classroom of their own, in this order.
TEACHERS = (
    ("teacher@example.org", "Terry Teacher", "Math"),
    ("karen.whitfield@example.org", "Karen Whitfield", "Math"),
    ("rajesh.iyer@example.org", "Rajesh Iyer", "Math"),
    ("monique.dubois@example.org", "Monique Dubois", "Math"),
    ("brian.oconnor@example.org", "Brian O'Connor", "Math"),
    ("latisha.greene@example.org", "Latisha Greene", "English"),
    ("daniel.okafor@example.org", "Daniel Okafor", "English"),
    ("megan.sullivan@example.org", "Megan Sullivan", "English"),
    ("rosa.delgado@example.org", "Rosa Delgado", "English"),
    ("eleanor.park@example.org", "Eleanor Park", "English"),
    ("hiroshi.tanaka@example.org", "Hiroshi Tanaka", "Science"),
    ("patricia.nowak@example.org", "Patricia Nowak", "Science"),
    ("marcus.bell@example.org", "Marcus Bell", "Science"),
    ("amina.yusuf@example.org", "Amina Yusuf", "Science"),
    ("gregory.hammond@example.org", "Gregory Hammond", "Social Studies"),
    ("lucia.fernandez@example.org", "Lucia Fernandez", "Social Studies"),
    ("samuel.goldberg@example.org", "Samuel Goldberg", "Social Studies"),
    ("denise.washington@example.org", "Denise Washington", "Social Studies"),
    ("kevin.brooks@example.org", "Kevin Brooks", "PE"),
    ("jasmine.ortiz@example.org", "Jasmine Ortiz", "PE"),
    ("tom.lindqvist@example.org", "Tom Lindqvist", "PE"),
    ("carla.mendes@example.org", "Carla Mendes", "PE"),
    ("natalie.chen@example.org", "Natalie Chen", "Art"),
    ("oscar.villanueva@example.org", "Oscar Villanueva", "Art"),
    ("ingrid.halvorsen@example.org", "Ingrid Halvorsen", "Art"),
    ("priya.raman@example.org", "Priya Raman", "Art"),
    ("alejandro.ruiz@example.org", "Alejandro Ruiz", "Spanish"),
    ("maribel.soto@example.org", "Maribel Soto", "Spanish"),
    ("claire.beaumont@example.org", "Claire Beaumont", "Spanish"),
    ("ahmed.haddad@example.org", "Ahmed Haddad", "Spanish"),
)

#: One classroom per teacher: the first floor, then the second.
CLASSROOMS = tuple(f"{floor}{n:02d}" for floor in (1, 2) for n in range(1, 16))

#: Where a hall pass can go besides a classroom: (name, kind).
DESTINATIONS = (
    ("Restroom 1st floor boys", "restroom"),
    ("Restroom 1st floor girls", "restroom"),
    ("Restroom 2nd floor boys", "restroom"),
    ("Restroom 2nd floor girls", "restroom"),
    ("All-gender restroom", "restroom"),
    ("Nurse", "nurse"),
    ("Main office", "office"),
    ("Library", "library"),
    ("Counselor", "counselor"),
    ("Water fountain", "other"),
    ("Lockers", "other"),
)

GRADES = ("6", "7", "8")
GRADE_SIZES = {"6": 204, "7": 198, "8": 198}
#: Each grade is split into this many cohorts that move from class to class together.
COHORTS_PER_GRADE = 8
PERIODS = ("1", "2", "3", "4", "5", "6", "7")

#: The bell schedule: the first bell, the minutes between periods, lunch after period 4.
DAY_START = 7 * 60 + 50
PASSING_MINUTES = 4
LUNCH_MINUTES = 30
#: Minutes of homeroom and of each period, by weekday; Wednesday is an early-release day.
WEEK = {0: (15, 50), 1: (15, 50), 2: (10, 40), 3: (15, 50), 4: (15, 50)}

FIRST_TAG = 101
HOUSEHOLDS = 414
THREE_CHILD_HOUSEHOLDS = 16
TWO_CHILD_HOUSEHOLDS = 66
#: Carpool families, by number of students; each student also rides with their own family.
CARPOOL_SIZES = (3, 2, 3, 2, 2, 3)
STUDENT_NUMBERS = range(200_000, 300_000)

FIRST_NAMES = (
    "Aaliyah", "Aarav", "Abigail", "Adrian", "Ahmed", "Aiden", "Aisha", "Alejandro",
    "Alexander", "Alexis", "Ali", "Amara", "Amelia", "Amir", "Ana", "Andre", "Angel",
    "Anika", "Arjun", "Ava", "Axel", "Ayesha", "Benjamin", "Bianca", "Brandon", "Brianna",
    "Caleb", "Camila", "Carlos", "Carmen", "Carter", "Charlotte", "Chloe", "Christopher",
    "Daniel", "Daniela", "David", "Deja", "Destiny", "Diego", "Dylan", "Elena", "Eli",
    "Elijah", "Elizabeth", "Emily", "Emma", "Esperanza", "Ethan", "Evelyn", "Ezra",
    "Fatima", "Gabriel", "Gabriela", "Grace", "Hana", "Hannah", "Harper", "Hassan",
    "Hector", "Ibrahim", "Imani", "Isabella", "Isaiah", "Ivan", "Jada", "Jamal", "Jasmine",
    "Jayden", "Jonathan", "Jordan", "José", "Joshua", "Julian", "Kai", "Katherine",
    "Kayla", "Kenji", "Khalil", "Layla", "Leah", "Leila", "Liam", "Lucas", "Luis", "Luna",
    "Madison", "Malik", "Maria", "Mariam", "Mason", "Mateo", "Matías", "Maya", "Mei",
    "Micah", "Michael", "Mohammed", "Naomi", "Natalia", "Nathan", "Nia", "Nicholas",
    "Noah", "Nora", "Olivia", "Omar", "Owen", "Priya", "Quinn", "Rafael", "Rahul",
    "Riley", "Rosa", "Rowan", "Ryan", "Samantha", "Samuel", "Santiago", "Sara",
    "Sebastian", "Sofía", "Sophia", "Tariq", "Thomas", "Trinity", "Valentina", "Victoria",
    "William", "Wyatt", "Xavier", "Ximena", "Yasmin", "Yusuf", "Zara", "Zoe",
)  # fmt: skip

#: Names that often come with a preferred short form.
NICKNAMES = {
    "Alexander": "Alex",
    "Benjamin": "Ben",
    "Christopher": "Chris",
    "Elizabeth": "Liz",
    "Gabriela": "Gabby",
    "Isabella": "Bella",
    "Jonathan": "Jon",
    "Katherine": "Kate",
    "Mohammed": "Mo",
    "Nicholas": "Nick",
    "Samantha": "Sam",
    "Samuel": "Sam",
    "Sebastian": "Seb",
    "Valentina": "Vale",
    "Victoria": "Tori",
    "William": "Will",
}

LAST_NAMES = (
    "Abdi", "Abebe", "Adams", "Adeyemi", "Aguilar", "Ahmed", "Ali", "Allen", "Alvarez",
    "Andersen", "Anderson", "Baker", "Banks", "Begay", "Bell", "Boateng", "Brooks", "Brown",
    "Bryant", "Campbell", "Carter", "Castillo", "Castro", "Chavez", "Chen", "Choi",
    "Clark", "Cohen", "Coleman", "Costa", "Davis", "Delgado", "Diallo", "Dubois",
    "Fitzgerald", "Flores", "Foster", "Freeman", "Gallagher", "Garcia", "Gonzalez",
    "Green", "Gupta", "Gutierrez", "Guzman", "Haddad", "Hall", "Hansen", "Harris", "Haugen",
    "Hayes", "Hernandez", "Herrera", "Hill", "Huang", "Hussain", "Ivanov", "Jackson",
    "Jenkins", "Jimenez", "Johansson", "Johnson", "Jones", "Kamara", "Kaur", "Khan", "Kim",
    "King", "Kowalski", "Le", "Lee", "Levy", "Lewis", "Li", "Lin", "Liu", "Lopez",
    "Mahmoud", "Martin", "Martinez", "Medina", "Mendoza", "Mensah", "Miller", "Mitchell",
    "Mohamud", "Moore", "Morales", "Moreau", "Muller", "Murphy", "Nasser", "Nelson",
    "Nguyen", "Novak", "O'Brien", "Okafor", "Oliveira", "Ortiz", "Osei", "Park", "Patel",
    "Perez", "Petrov", "Pham", "Price", "Ramirez", "Ramos", "Reyes", "Rivera", "Roberts",
    "Robinson", "Rodriguez", "Romano", "Rossi", "Ruiz", "Russo", "Sanchez", "Sanders",
    "Santos", "Sato", "Schmidt", "Scott", "Shah", "Silva", "Singh", "Smith", "Soto",
    "Sullivan", "Tanaka", "Taylor", "Thomas", "Thompson", "Torres", "Tran", "Tsosie",
    "Vargas", "Vasquez", "Walker", "Wang", "Washington", "White", "Williams", "Wilson",
    "Wright", "Wu", "Yamamoto", "Yazzie", "Yilmaz", "Young", "Zhang",
)  # fmt: skip

ADULT_FIRST_NAMES = (
    "Alejandra", "Amina", "Amit", "Ana", "Andre", "Angela", "Anh", "Ashley", "Brian",
    "Carlos", "Chinedu", "Christopher", "Daniel", "Darnell", "David", "Emily", "Erin",
    "Fatima", "Francisco", "Grace", "Guadalupe", "Hana", "Heather", "Hong", "Hyun",
    "Ivan", "James", "Jennifer", "Jessica", "Jin", "Jose", "Karen", "Keisha", "Kenji",
    "Kevin", "Khadija", "Kwame", "Latoya", "Laura", "Leila", "Linda", "Lisa", "Luis",
    "Marcus", "Maria", "Megan", "Mei", "Michael", "Miguel", "Minh", "Mohamed", "Nancy",
    "Ngozi", "Olga", "Omar", "Patricia", "Paul", "Priya", "Rachel", "Raj", "Robert",
    "Rosa", "Sarah", "Sean", "Steven", "Sunita", "Svetlana", "Tamika", "Wei", "Yuki",
    "Yusuf",
)  # fmt: skip

#: Other grown-ups some families allow to pick up, noted after the name.
HELPERS = ("grandmother", "grandfather", "aunt", "uncle", "neighbor", "nanny")


class DemoAlreadyLoaded(Conflict):
    """The demo school is already in the database; loading again changes nothing."""


@dataclass(frozen=True)
class DemoSummary:
    """What `load_demo` created."""

    school_id: int
    students: int
    teachers: int
    accounts: int
    classes: int
    enrollments: int
    rooms: int
    bell_periods: int
    families: int
    families_with_siblings: int
    carpools: int
    #: What the blueprints' demo loaders added, by loader name (their counts).
    history: dict[str, dict[str, int]] = field(default_factory=dict)

    def history_line(self) -> str:
        """The loaders' counts as one sentence, in their order."""
        loaders = contributions().demo_loaders
        return ", ".join(
            loader.summary.format(**self.history[loader.name])
            for loader in loaders
            if loader.name in self.history
        )


def demo_emails() -> set[str]:
    """The sign-in emails of every demo account."""
    return {email for email, _, _ in ROLE_ACCOUNTS} | {email for email, _, _ in TEACHERS}


def find_demo_school() -> School | None:
    """The demo school, if it is loaded."""
    return db.session.scalar(
        select(School).where(School.code == SCHOOL_CODE, School.is_demo.is_(True))
    )


def real_data_problem() -> str | None:
    """Why the database holds real data that demo data must not mix with, or None."""
    school = db.session.scalar(select(School).where(School.is_demo.is_(False)).limit(1))
    if school is not None:
        return f"it holds the school {school.name!r} ({school.code})"
    others = db.session.scalar(
        select(func.count()).select_from(User).where(User.email.not_in(sorted(demo_emails())))
    )
    if others:
        return f"it holds {others} staff account(s) that are not demo accounts"
    return None


def load_demo() -> DemoSummary:
    """Add the demo school with its people, rooms, classes and families (flushes only)."""
    if find_demo_school() is not None:
        raise DemoAlreadyLoaded(f"The demo school {SCHOOL_NAME} is already loaded.")
    problem = real_data_problem()
    if problem:
        raise Conflict(f"This database is not for demo data: {problem}.")
    rng = random.Random(SEED)
    school = School(
        name=SCHOOL_NAME, code=SCHOOL_CODE, timezone=SCHOOL_TIMEZONE, settings={}, is_demo=True
    )
    db.session.add(school)
    db.session.flush()
    accounts = _accounts(school)
    teachers = [accounts[email] for email, _, _ in TEACHERS]
    classrooms = [Room(school_id=school.id, name=name, kind="classroom") for name in CLASSROOMS]
    destinations = [Room(school_id=school.id, name=n, kind=k) for n, k in DESTINATIONS]
    bells = [
        BellPeriod(school_id=school.id, name=name, weekday=weekday, start_time=start, end_time=end)
        for weekday, (homeroom, period) in WEEK.items()
        for name, start, end in _bell_times(homeroom, period)
    ]
    students, households, carpools = _students_and_families(school, rng)
    families = households + carpools
    classes = _classes(school, teachers, classrooms, students, rng)
    db.session.add_all([*classrooms, *destinations, *bells, *students, *families, *classes])
    db.session.flush()
    history = {
        loader.name: loader.load(school, random.Random(f"{SEED}:{loader.name}"))
        for loader in contributions().demo_loaders
    }
    summary = DemoSummary(
        school_id=school.id,
        students=len(students),
        teachers=len(teachers),
        accounts=len(accounts),
        classes=len(classes),
        enrollments=sum(len(c.enrollments) for c in classes),
        rooms=len(classrooms) + len(destinations),
        bell_periods=len(bells),
        families=len(families),
        families_with_siblings=sum(len(f.students) > 1 for f in households),
        carpools=len(carpools),
        history=history,
    )
    detail = {key: value for key, value in asdict(summary).items() if key != "school_id"}
    audit.record("demo.load", school_id=school.id, target=school, detail=detail)
    return summary


def _accounts(school: School) -> dict[str, User]:
    """The demo staff accounts by email, each with its role at the school."""
    wanted = {email: (name, role) for email, name, role in ROLE_ACCOUNTS}
    wanted.update({email: (name, "teacher") for email, name, _ in TEACHERS})
    # Demo accounts outlive a deleted demo school; they are taken over again.
    existing = {
        user.email: user
        for user in db.session.scalars(select(User).where(User.email.in_(list(wanted))))
    }
    password_hash = hash_password(PASSWORD)
    accounts = {}
    for email, (name, role) in wanted.items():
        user = existing.get(email) or User(email=email)
        user.name = name
        user.password_hash = password_hash
        user.active = True
        user.memberships.append(Membership(school=school, role=role))
        accounts[email] = user
    db.session.add_all(accounts.values())
    return accounts


def _bell_times(homeroom: int, period: int) -> list[tuple[str, time, time]]:
    """A day's periods as (name, start, end) wall-clock times, from their lengths."""
    morning = [(name, period) for name in PERIODS[:4]]
    afternoon = [(name, period) for name in PERIODS[4:]]
    day = [("Homeroom", homeroom), *morning, ("Lunch", LUNCH_MINUTES), *afternoon]
    times = []
    clock = DAY_START
    for name, minutes in day:
        times.append((name, _clock_time(clock), _clock_time(clock + minutes)))
        clock += minutes + PASSING_MINUTES
    return times


def _clock_time(minutes: int) -> time:
    """Minutes after midnight as a wall-clock time."""
    return time(minutes // 60, minutes % 60)


def _household_grades(rng: random.Random) -> tuple[list[tuple[str, ...]], list[str]]:
    """The grades of each household's children, and of the students with no family."""
    households: list[tuple[str, ...]] = [GRADES] * THREE_CHILD_HOUSEHOLDS
    households += [tuple(sorted(rng.sample(GRADES, 2))) for _ in range(TWO_CHILD_HOUSEHOLDS)]
    left = Counter(GRADE_SIZES)
    for grades in households:
        left.subtract(grades)
    pool = list(left.elements())
    rng.shuffle(pool)
    singles = HOUSEHOLDS - len(households)
    households += [(grade,) for grade in pool[:singles]]
    rng.shuffle(households)
    return households, pool[singles:]


def _students_and_families(
    school: School, rng: random.Random
) -> tuple[list[Student], list[Family], list[Family]]:
    """Students, and the families picking them up: households and carpools.

    Siblings share a household and its last name; the students left over ride the bus
    or walk. A carpool family holds students who also have a household family.
    """
    households, without_family = _household_grades(rng)
    numbers = iter(rng.sample(STUDENT_NUMBERS, sum(GRADE_SIZES.values())))
    tags = count(FIRST_TAG)

    def student(grade: str, first_name: str, last_name: str) -> Student:
        nickname = NICKNAMES.get(first_name)
        return Student(
            school_id=school.id,
            student_number=str(next(numbers)),
            first_name=first_name,
            last_name=last_name,
            preferred_name=nickname if nickname and rng.random() < 0.5 else None,
            grade=grade,
        )

    students: list[Student] = []
    families: list[Family] = []
    adults: dict[int, list[str]] = {}
    for grades in households:
        last_name = rng.choice(LAST_NAMES)
        children = [
            student(grade, first_name, last_name)
            for grade, first_name in zip(grades, rng.sample(FIRST_NAMES, len(grades)), strict=True)
        ]
        family = Family(school_id=school.id, tag_number=next(tags), students=children)
        adults[family.tag_number] = _pickup_adults(rng, last_name)
        family.pickup_adults = "\n".join(adults[family.tag_number])
        students += children
        families.append(family)
    # One custody note, so a reunification drill has a "do not release" to refuse.
    first_family = families[0]
    first_family.release_note = (
        f"Do not release to Victor {first_family.students[0].last_name} (court order on file)."
    )
    students += [
        student(grade, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for grade in without_family
    ]
    riders = iter(rng.sample(families, sum(CARPOOL_SIZES)))
    carpools = []
    for size in CARPOOL_SIZES:
        members = [next(riders) for _ in range(size)]
        carpools.append(
            Family(
                school_id=school.id,
                tag_number=next(tags),
                students=[rng.choice(member.students) for member in members],
                pickup_adults="\n".join(adults[member.tag_number][0] for member in members),
            )
        )
    return students, families, carpools


def _pickup_adults(rng: random.Random, last_name: str) -> list[str]:
    """One or two parents, and sometimes a helper noted after the name."""
    parents = rng.sample(ADULT_FIRST_NAMES, 2 if rng.random() < 0.7 else 1)
    names = [f"{first} {last_name}" for first in parents]
    if rng.random() < 0.15:
        helper = f"{rng.choice(ADULT_FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        names.append(f"{helper} ({rng.choice(HELPERS)})")
    return names


def _classes(
    school: School,
    teachers: list[User],
    classrooms: list[Room],
    students: list[Student],
    rng: random.Random,
) -> list[SchoolClass]:
    """Homerooms by last name, and sections that give each cohort every subject once a day.

    Cohort c of grade number n has subject (c + p + 3n) mod 7 in period p, so a period
    never needs more than four teachers of one subject. A section goes to the least busy
    teacher of its subject, in the teacher's own room; teacher@example.org (the first
    Math teacher) teaches every period.
    """
    classes = []
    sections: dict[tuple[str, str], list[tuple[str, list[Student]]]] = defaultdict(list)
    for n, grade in enumerate(GRADES):
        pupils = [s for s in students if s.grade == grade]
        alphabetical = sorted(pupils, key=lambda s: (s.last_name, s.first_name))
        homeroom_teachers = range(n, len(TEACHERS), len(GRADES))
        groups = _split(alphabetical, len(homeroom_teachers))
        for t, group in zip(homeroom_teachers, groups, strict=True):
            classes.append(
                _class(school, f"Homeroom {grade}", "Homeroom", teachers[t], classrooms[t], group)
            )
        rng.shuffle(pupils)
        for c, cohort in enumerate(_split(pupils, COHORTS_PER_GRADE)):
            for p, period in enumerate(PERIODS):
                subject = SUBJECTS[(c + p + 3 * n) % len(SUBJECTS)]
                sections[period, subject].append((grade, cohort))
    load: Counter[int] = Counter()
    for period in PERIODS:
        for subject in SUBJECTS:
            groups = sections[period, subject]
            staff = sorted(
                (t for t, (_, _, taught) in enumerate(TEACHERS) if taught == subject),
                key=lambda t: (t != 0, load[t], t),
            )
            for (grade, cohort), t in zip(groups, staff[: len(groups)], strict=True):
                load[t] += 1
                name = f"{subject} {grade}"
                classes.append(_class(school, name, period, teachers[t], classrooms[t], cohort))
    return classes


def _split(items: list[Student], parts: int) -> list[list[Student]]:
    """`items` in `parts` consecutive runs of nearly equal length."""
    return [items[i * len(items) // parts : (i + 1) * len(items) // parts] for i in range(parts)]


def _class(
    school: School, name: str, period: str, teacher: User, room: Room, pupils: list[Student]
) -> SchoolClass:
    """One class taught by one teacher in their room, with its students enrolled."""
    return SchoolClass(
        school_id=school.id,
        name=name,
        period=period,
        room=room,
        teachers=[teacher],
        enrollments=[Enrollment(student=pupil) for pupil in pupils],
    )


@click.command("demo")
def demo_command() -> None:
    """Load a made-up demo school to try passline with (never on real data)."""
    try:
        summary = load_demo()
    except DemoAlreadyLoaded as exc:
        db.session.rollback()
        click.echo(f"{exc.message} Nothing was changed.")
        return
    except Conflict as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.message} Nothing was changed.") from exc
    db.session.commit()
    refresh_statistics(db.session)
    click.echo(f"Loaded {SCHOOL_NAME} ({SCHOOL_CODE}):")
    click.echo(
        f"  {summary.students} students in grades {GRADES[0]}-{GRADES[-1]}, "
        f"{summary.teachers} teachers, {summary.classes} classes, {summary.rooms} rooms,"
    )
    click.echo(
        f"  {summary.families} families with car tags "
        f"({summary.families_with_siblings} with siblings, {summary.carpools} carpools), "
        f"{summary.bell_periods} bell periods a week."
    )
    if summary.history:
        click.echo(f"  History: {summary.history_line()}.")
    click.echo(f"Sign in with the password {PASSWORD} as:")
    width = max(len(email) for email, _, _ in ROLE_ACCOUNTS)
    for email, _, role in ROLE_ACCOUNTS:
        click.echo(f"  {email:<{width}}  {ROLE_LABELS[role]}")
