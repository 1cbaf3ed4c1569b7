"""Word lists and a title / genre / tag generator for synthetic MovieLens releases.

Titles follow MovieLens conventions: "Dark Harbor, The (1998)" (leading article moved to the end),
foreign titles with an English alternate in parentheses ("Nuit des loups, La (Night of the Wolves)
(1972)"), sequels ("Crimson Tide 2 (2004)"), documentaries ("Inside Lagos (2015)"), a few titles
without a year. Words lean on each movie's genres (horror titles have nights, curses and blood), so
documents built from them cluster by genre the way real ones do. Tags mix genre vocabulary, moods,
themes and people's names, as MovieLens users write them.
"""

import numpy as np

# MovieLens genre labels with their approximate share of ML-32M movies.
GENRES = {
    "Drama": 0.39, "Comedy": 0.27, "Thriller": 0.13, "Romance": 0.12, "Action": 0.11, "Documentary": 0.10,
    "Horror": 0.10, "Crime": 0.09, "Adventure": 0.07, "Sci-Fi": 0.06, "Animation": 0.06, "Children": 0.05,
    "Mystery": 0.05, "Fantasy": 0.05, "War": 0.025, "Western": 0.015, "Musical": 0.012, "Film-Noir": 0.004,
    "IMAX": 0.002,
}
NO_GENRES = "(no genres listed)"
# Genres that tend to come together (second and third genres are drawn from these first).
AFFINITY = {
    "Drama": ["Romance", "Crime", "War", "Thriller", "Comedy"], "Comedy": ["Romance", "Drama", "Children", "Crime"],
    "Thriller": ["Crime", "Mystery", "Horror", "Action", "Drama"], "Romance": ["Drama", "Comedy", "Musical"],
    "Action": ["Adventure", "Thriller", "Sci-Fi", "Crime"], "Documentary": ["IMAX", "War", "Musical"],
    "Horror": ["Thriller", "Mystery", "Sci-Fi", "Comedy"], "Crime": ["Thriller", "Drama", "Film-Noir", "Action"],
    "Adventure": ["Action", "Fantasy", "Children", "Animation"], "Sci-Fi": ["Action", "Adventure", "Thriller"],
    "Animation": ["Children", "Comedy", "Fantasy", "Adventure"], "Children": ["Animation", "Comedy", "Fantasy"],
    "Mystery": ["Thriller", "Crime", "Drama"], "Fantasy": ["Adventure", "Children", "Animation"],
    "War": ["Drama", "Action"], "Western": ["Action", "Adventure", "Drama"], "Musical": ["Romance", "Comedy"],
    "Film-Noir": ["Crime", "Mystery", "Thriller"], "IMAX": ["Documentary", "Adventure", "Animation"],
}

ADJECTIVES = ["Last", "First", "Dark", "Silent", "Broken", "Hidden", "Golden", "Crimson", "Lost", "Secret", "Wild",
              "Endless", "Little", "Big", "Lonely", "Perfect", "Final", "Long", "Cold", "Burning", "Sweet", "Bitter",
              "Savage", "Quiet", "Strange", "Deadly", "Empty", "Electric", "Eternal", "Fallen", "Frozen", "Hollow",
              "Innocent", "Invisible", "Iron", "Midnight", "Modern", "Naked", "Northern", "Pale", "Red", "Black",
              "White", "Blue", "Green", "Restless", "Sacred", "Shattered", "Southern", "Stolen", "Twisted", "Wicked",
              "Young", "Old", "Lucky", "Brave", "Crazy", "Beautiful", "Happy", "Dangerous", "American", "Forgotten",
              "Summer", "Winter", "Second", "Private", "Royal", "Lovely", "Bright", "Distant", "Cruel", "Gentle",
              "Hungry"]
NOUNS = ["Road", "River", "House", "City", "Heart", "Night", "Day", "Man", "Woman", "Girl", "Boy", "Child", "Game",
         "Dream", "Fire", "Water", "Rain", "Storm", "Sky", "Island", "Garden", "Door", "Window", "Mirror", "Shadow",
         "Light", "Line", "Edge", "Border", "Bridge", "Town", "Station", "Hotel", "Room", "Letter", "Promise", "Secret",
         "Truth", "Lie", "Voice", "Song", "Dance", "Party", "Wedding", "Funeral", "Journey", "Escape", "Return",
         "Revenge", "Justice", "Empire", "Kingdom", "Code", "Machine", "Signal", "Circle", "Hunt", "Ghost", "Stranger",
         "Friend", "Brother", "Sister", "Father", "Mother", "Family", "Year", "Summer", "Winter", "Morning", "Harbor",
         "Valley", "Mountain", "Desert", "Ocean", "Forest", "Field", "Street", "Alley", "Season", "Affair", "Ticket",
         "Money", "Diamond", "Gold", "Crown", "Sword", "Ring", "Key", "Train", "Ship", "Plane", "Car", "Horse", "Dog",
         "Cat", "Bird"]
GENRE_NOUNS = {
    "Horror": ["Curse", "Haunting", "Blood", "Dead", "Evil", "Grave", "Nightmare", "Beast", "Demon", "Witch", "Ritual",
               "Cellar", "Scream", "Hunger"],
    "Sci-Fi": ["Planet", "Star", "Galaxy", "Android", "Future", "Signal", "Colony", "Orbit", "Clone", "Machine",
               "Frontier", "Moon", "Portal"],
    "Romance": ["Love", "Kiss", "Heart", "Affair", "Wedding", "Valentine", "Honeymoon", "Promise", "Sweetheart",
                "Darling"],
    "War": ["Battle", "Soldier", "Front", "Siege", "Regiment", "Bomber", "Trench", "Invasion", "Platoon", "Victory",
            "Resistance"],
    "Western": ["Gun", "Ranch", "Outlaw", "Sheriff", "Trail", "Canyon", "Saddle", "Bounty", "Frontier", "Stagecoach",
                "Rider"],
    "Crime": ["Heist", "Job", "Score", "Murder", "Killer", "Detective", "Witness", "Gang", "Con", "Deal", "Bullet",
              "Case"],
    "Children": ["Puppy", "Dragon", "Treasure", "Adventure", "Friends", "Christmas", "Magic", "Princess", "Robot",
                 "Circus"],
    "Animation": ["Dragon", "Kingdom", "Friends", "Island", "Magic", "Robot", "Forest", "Tale", "Rabbit", "Penguin"],
    "Fantasy": ["Dragon", "Sword", "Wizard", "Kingdom", "Quest", "Realm", "Spell", "Throne", "Prophecy", "Tower"],
    "Musical": ["Song", "Melody", "Dance", "Rhythm", "Stage", "Band", "Music", "Ballad", "Broadway"],
    "Comedy": ["Wedding", "Party", "Vacation", "Roommate", "Neighbor", "Date", "Prank", "Boss", "Weekend", "Mess"],
    "Thriller": ["Witness", "Trap", "Target", "Pursuit", "Conspiracy", "Alibi", "Ransom", "Hostage", "Stranger",
                 "Deadline"],
    "Mystery": ["Mystery", "Secret", "Clue", "Riddle", "Disappearance", "Manor", "Case", "Puzzle"],
    "Action": ["Strike", "Force", "Mission", "Fury", "Chase", "Impact", "Showdown", "Collision", "Takedown", "Rampage"],
    "Film-Noir": ["Dame", "Alibi", "Shadow", "Double", "Rain", "Cigarette", "Sin", "Street"],
}
FIRST_NAMES = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
               "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
               "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Helen", "Paul", "Sandra", "Steven",
               "Donna", "Andrew", "Carol", "Kenneth", "Ruth", "Joshua", "Sharon", "Kevin", "Michelle", "Brian", "Laura",
               "George", "Emily", "Edward", "Kim", "Jean", "Pierre", "Marie", "Luc", "Hans", "Greta", "Akira", "Yuki",
               "Hiro", "Mei", "Li", "Chen", "Raj", "Priya", "Ahmed", "Fatima", "Ivan", "Olga", "Pedro", "Lucia",
               "Marco", "Giulia", "Sven", "Ingrid", "Kofi", "Amara", "Diego", "Sofia"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Garcia", "Rodriguez", "Wilson",
              "Martinez", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White",
              "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill",
              "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell",
              "Parker", "Evans", "Edwards", "Dubois", "Moreau", "Laurent", "Schmidt", "Weber", "Rossi", "Bianchi",
              "Tanaka", "Suzuki", "Kim", "Park", "Wang", "Zhang", "Singh", "Patel", "Khan", "Ivanov", "Petrov", "Silva",
              "Santos", "Lindqvist", "Nilsson", "Okafor", "Mensah", "Herrera", "Castillo"]
PLACES = ["Paris", "London", "Tokyo", "Berlin", "Rome", "Chicago", "Brooklyn", "Texas", "Alaska", "Mexico", "Havana",
          "Cairo", "Bombay", "Shanghai", "Vienna", "Venice", "Naples", "Lisbon", "Dublin", "Glasgow", "Montana",
          "Memphis", "Detroit", "Harlem", "Casablanca", "Manhattan", "Hollywood", "Vegas", "Saigon", "Kabul", "Moscow",
          "Warsaw", "Prague", "Budapest", "Istanbul", "Marrakech", "Rio", "Lagos", "Nairobi", "Seoul", "Sicily",
          "Tuscany"]
FOREIGN = {  # (article, words) per language: "Nuit des loups, La"
    "fr": (["Le", "La", "Les", "L'"], ["nuit", "amour", "jour", "vie", "ville", "mer", "enfants", "loups", "rêve",
                                       "secret", "chemin"]),
    "es": (["El", "La", "Los", "Las"], ["noche", "amor", "día", "vida", "ciudad", "mar", "niños", "lobos", "sueño",
                                        "secreto", "camino"]),
    "de": (["Der", "Die", "Das"], ["Nacht", "Liebe", "Tag", "Leben", "Stadt", "Meer", "Kinder", "Wölfe", "Traum",
                                   "Geheimnis", "Weg"]),
    "it": (["Il", "La", "I", "Le"], ["notte", "amore", "giorno", "vita", "città", "mare", "bambini", "lupi", "sogno",
                                     "segreto", "strada"]),
    "ja": ([], ["Yoru", "no", "Ai", "Hikari", "Kaze", "Tokyo", "Monogatari", "Samurai", "Yume", "Sakura", "Umi"]),
}
NUMERALS = ["2", "3", "II", "III", "4", "Part II", "Chapter 2"]

MOODS = ["atmospheric", "dark", "funny", "quirky", "thought-provoking", "surreal", "emotional", "intense", "slow",
         "tense", "suspenseful", "visually appealing", "beautiful cinematography", "great soundtrack", "feel-good",
         "sad", "depressing", "witty", "stylized", "gritty", "violent", "bleak", "heartwarming", "clever", "boring",
         "overrated", "underrated", "masterpiece", "classic", "cult film", "predictable", "original"]
THEMES = ["twist ending", "based on a book", "true story", "time travel", "coming of age", "revenge", "friendship",
          "family", "road trip", "small town", "high school", "serial killer", "police corruption",
          "artificial intelligence", "dystopia", "post-apocalyptic", "aliens", "space", "zombies", "vampires", "heist",
          "mafia", "prison", "war", "politics", "religion", "mental illness", "psychology", "addiction", "racism",
          "feminism", "social commentary", "satire", "nonlinear", "adapted from comic", "remake", "sequel", "parody",
          "based on a true story", "biography", "history", "Oscar (Best Picture)", "In Netflix queue"]
GENRE_TAGS = {
    "Horror": ["scary", "gore", "creepy", "jump scares", "slasher", "supernatural", "haunted house"],
    "Sci-Fi": ["sci-fi", "space", "aliens", "futuristic", "cyberpunk", "robots", "dystopia"],
    "Romance": ["romance", "love story", "romantic", "chick flick", "love triangle"],
    "Comedy": ["comedy", "funny", "hilarious", "dark comedy", "black comedy", "quirky", "slapstick"],
    "Drama": ["drama", "emotional", "character study", "melancholy", "powerful"],
    "Action": ["action", "explosions", "fight scenes", "car chase", "martial arts", "guns"],
    "Crime": ["crime", "heist", "mafia", "gangsters", "police", "noir"],
    "Thriller": ["suspense", "tense", "conspiracy", "plot twist", "psychological"],
    "Documentary": ["documentary", "informative", "nature", "history", "interviews"],
    "Animation": ["animation", "pixar", "anime", "cartoon", "stop motion"],
    "Children": ["kids", "family", "disney", "for children", "cute"],
    "War": ["war", "world war ii", "vietnam", "military", "anti-war"],
    "Western": ["western", "cowboys", "gunfight", "wild west"],
    "Fantasy": ["fantasy", "magic", "dragons", "fairy tale", "epic"],
    "Mystery": ["mystery", "whodunit", "detective", "investigation"],
    "Musical": ["musical", "music", "singing", "dance"],
    "Film-Noir": ["film noir", "noir", "femme fatale", "black and white"],
    "IMAX": ["imax", "3d", "spectacle"],
}
GENRE_NAMES = list(GENRES)
GENRE_P = np.array(list(GENRES.values())) / sum(GENRES.values())


def _pick(rng: np.random.Generator, words: list[str]) -> str:
    return words[int(rng.integers(len(words)))]


def person(rng: np.random.Generator) -> str:
    return f"{_pick(rng, FIRST_NAMES)} {_pick(rng, LAST_NAMES)}"


def genres_for(rng: np.random.Generator) -> list[str]:
    """1-4 ML genres (sorted, as MovieLens lists them), or [] for "(no genres listed)" (~2 %)."""
    if rng.random() < 0.02:
        return []
    first = GENRE_NAMES[int(rng.choice(len(GENRE_NAMES), p=GENRE_P))]
    chosen = {first}
    extra = int(rng.choice(4, p=[0.45, 0.32, 0.17, 0.06]))
    for _ in range(extra):
        pool = AFFINITY[first] if rng.random() < 0.75 else GENRE_NAMES
        chosen.add(_pick(rng, pool))
    return sorted(chosen)


def _english_title(rng: np.random.Generator, genres: list[str]) -> str:
    nouns = NOUNS + [w for g in genres for w in GENRE_NOUNS.get(g, []) * 3]
    n, n2, adj = _pick(rng, nouns), _pick(rng, nouns), _pick(rng, ADJECTIVES)
    if "Documentary" in genres and rng.random() < 0.6:
        forms = [f"Inside {_pick(rng, PLACES)}", f"The Story of {person(rng)}", f"{person(rng)}: A Life",
                 f"{adj} {n}: The Making of {_pick(rng, nouns)}", f"Portrait of {_pick(rng, PLACES)}"]
        return forms[int(rng.integers(len(forms)))]
    forms = [
        f"The {adj} {n}", f"{n}", f"{adj} {n}", f"The {n} of {_pick(rng, PLACES)}", f"{n} of the {n2}",
        f"{person(rng)}", f"{_pick(rng, FIRST_NAMES)} and {_pick(rng, FIRST_NAMES)}", f"{adj} {n}s",
        f"A {n} in {_pick(rng, PLACES)}", f"{_pick(rng, FIRST_NAMES)}'s {n}", f"Return of the {n}",
        f"Night of the {adj} {n}", f"The {n} Who Knew Too Much", f"{n}, {n2} and {_pick(rng, nouns)}",
        f"{_pick(rng, PLACES)} {n}", f"Escape from {_pick(rng, PLACES)}", f"The {n}", f"A {adj} {n}",
    ]
    weights = np.array([6, 4, 5, 2, 3, 2, 1, 2, 1, 2, 1, 1, 0.3, 0.5, 2, 0.7, 5, 2])
    return forms[int(rng.choice(len(forms), p=weights / weights.sum()))]


def _ml_article(title: str, articles: tuple[str, ...] = ("The", "A", "An")) -> str:
    """MovieLens moves a leading article to the end: "The Dark Harbor" -> "Dark Harbor, The"."""
    for article in articles:
        if title.startswith(article + " ") and len(title) > len(article) + 1:
            return f"{title[len(article) + 1:]}, {article}"
    return title


def raw_title(rng: np.random.Generator, genres: list[str], year: int | None, previous: list[str]) -> tuple[str, str]:
    """(movies.csv title, its plain English form): English, foreign with an English a.k.a., or a sequel.

    ``previous`` holds earlier plain forms, the pool sequels are drawn from ("The Godfather" ->
    "Godfather: Part II, The (1974)" as MovieLens writes it).
    """
    roll = rng.random()
    if previous and roll < 0.05:  # a sequel
        base = previous[int(rng.integers(len(previous)))]
        plain = f"{base} {_pick(rng, NUMERALS)}" if rng.random() < 0.7 else f"{base}: {_english_title(rng, genres)}"
        title = _ml_article(plain)
    elif roll < 0.17:  # foreign title with its English title in parentheses
        lang = list(FOREIGN)[int(rng.integers(len(FOREIGN)))]
        articles, words = FOREIGN[lang]
        picked = rng.choice(len(words), size=int(rng.integers(1, 4)), replace=False)
        core = " ".join(words[i] for i in picked)
        core = core[0].upper() + core[1:]
        if articles and rng.random() < 0.6:
            core = f"{core}, {_pick(rng, articles)}"
        plain = _english_title(rng, genres)
        title = f"{core} ({_ml_article(plain)})"
    else:
        plain = _english_title(rng, genres)
        title = _ml_article(plain)
    return (f"{title} ({year})" if year is not None else title), plain


def tag_profile(rng: np.random.Generator, genres: list[str], size: int = 8) -> list[str]:
    """The tags a movie attracts: genre words, moods, themes and a couple of people's names."""
    pool = [t for g in genres for t in GENRE_TAGS.get(g, [])]
    out: dict[str, None] = {}
    for _ in range(size):
        roll = rng.random()
        if pool and roll < 0.45:
            tag = _pick(rng, pool)
        elif roll < 0.7:
            tag = _pick(rng, MOODS)
        elif roll < 0.88:
            tag = _pick(rng, THEMES)
        else:
            tag = person(rng)
        out.setdefault(tag, None)
    return list(out)
