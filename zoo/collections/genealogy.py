"""A genealogy of writing systems: Unicode script -> (family, branch).

Keys are Unicode script names as spelled in Scripts.txt. The tree is the
conventional descent of scripts (which script a script was adapted from), not
the languages written with them. Where scholarship is unsettled the script is
placed with its closest accepted relatives and the choice is noted.
"""

from __future__ import annotations

#: family -> reference for the descent it encodes
FAMILY_REFERENCES: dict[str, str] = {
    "Brahmic": "Salomon, R. (1998) Indian Epigraphy, ch. 2; Daniels & Bright (eds.) (1996) "
    "The World's Writing Systems, part V (scripts of South and Southeast Asia)",
    "Semitic": "Healey, J. F. (1990) The Early Alphabet; Daniels & Bright (1996) part II, "
    "sections 7-9 (the Phoenician alphabet and its Aramaic/Arabic descendants)",
    "Greek-derived": "Jeffery, L. H. (1961) The Local Scripts of Archaic Greece; Daniels & Bright "
    "(1996) part IV (European alphabets: Greek, Latin, Cyrillic, Caucasian)",
    "Ancient logo-syllabic": "Daniels & Bright (1996) part II (cuneiform, Egyptian, Aegean and "
    "Anatolian scripts); Robinson, A. (2002) Lost Languages",
    "Runiform": "Daniels & Bright (1996) section 47 (Old Turkic); Róna-Tas, A. (1987) "
    "'On the development and origin of the East Turkic runic script', AOH 41",
    "Sinitic-derived": "Daniels & Bright (1996) part III (scripts derived from Chinese: Tangut, "
    "Yi, Nüshu); The Unicode Standard 15.0, ch. 18",
    "Invented": "Daniels & Bright (1996) part X (modern invented scripts); Kelly, P. (2018) "
    "'The invention, transmission and evolution of writing: insights from the new "
    "scripts of West Africa'; The Unicode Standard 15.0, ch. 19-20",
}

_TABLE: dict[str, tuple[str, ...]] = {
    # Brahmic: Brahmi and its descendants
    "Brahmic/Brahmi": ("Brahmi",),
    "Brahmic/North Brahmic": (
        "Devanagari",
        "Bengali",
        "Gurmukhi",
        "Gujarati",
        "Oriya",
        "Tirhuta",
        "Kaithi",
        "Syloti_Nagri",
        "Takri",
        "Sharada",
        "Khojki",
        "Khudawadi",
        "Mahajani",
        "Modi",
        "Multani",
        "Newa",
        "Dogra",
        "Siddham",
        "Bhaiksuki",
        "Meetei_Mayek",
        "Gunjala_Gondi",
        "Masaram_Gondi",
        "Nandinagari",
    ),
    "Brahmic/Tibetic": (
        "Tibetan",
        "Marchen",
        "Phags_Pa",
        "Zanabazar_Square",
        "Soyombo",
        "Lepcha",
        "Limbu",
    ),
    "Brahmic/South Brahmic": (
        "Tamil",
        "Telugu",
        "Kannada",
        "Malayalam",
        "Sinhala",
        "Grantha",
        "Saurashtra",
        "Dives_Akuru",
    ),
    "Brahmic/Southeast Asian Brahmic": (
        "Thai",
        "Lao",
        "Khmer",
        "Myanmar",
        "Balinese",
        "Javanese",
        "Sundanese",
        "Batak",
        "Buginese",
        "Rejang",
        "Cham",
        "Tai_Le",
        "New_Tai_Lue",
        "Tai_Tham",
        "Tai_Viet",
        "Kayah_Li",
        "Tagalog",
        "Hanunoo",
        "Buhid",
        "Tagbanwa",
        "Ahom",
        "Chakma",
        "Makasar",
    ),
    # Phoenician and its Semitic-language descendants
    "Semitic/Phoenician": ("Phoenician", "Samaritan", "Tifinagh"),  # Tifinagh via Libyco-Berber
    "Semitic/Aramaic": (
        "Imperial_Aramaic",
        "Hebrew",
        "Nabataean",
        "Palmyrene",
        "Hatran",
        "Elymaic",
        "Kharoshthi",
    ),
    "Semitic/Syriac-Sogdian": (
        "Syriac",
        "Mandaic",
        "Manichaean",
        "Sogdian",
        "Old_Sogdian",
        "Old_Uyghur",
        "Mongolian",
    ),
    "Semitic/Iranian": (
        "Inscriptional_Pahlavi",
        "Inscriptional_Parthian",
        "Psalter_Pahlavi",
        "Avestan",
    ),
    "Semitic/Arabic": ("Arabic", "Thaana", "Hanifi_Rohingya", "Yezidi"),
    "Semitic/South Semitic": ("Old_South_Arabian", "Old_North_Arabian", "Ethiopic"),
    "Semitic/Cuneiform alphabet": ("Ugaritic",),
    # Greek and its descendants
    "Greek-derived/Greek": ("Greek", "Coptic", "Gothic"),
    "Greek-derived/Old Italic": ("Old_Italic", "Latin", "Runic"),
    "Greek-derived/Cyrillic": ("Cyrillic", "Glagolitic", "Old_Permic"),
    "Greek-derived/Anatolian": ("Carian", "Lycian", "Lydian"),
    "Greek-derived/Caucasian": ("Armenian", "Georgian", "Caucasian_Albanian"),
    "Greek-derived/Balkan": ("Elbasan",),
    # logographic and syllabic systems of the ancient Near East and Aegean
    "Ancient logo-syllabic/Mesopotamian": ("Cuneiform", "Old_Persian"),
    "Ancient logo-syllabic/Egyptian": ("Egyptian_Hieroglyphs", "Meroitic_Hieroglyphs", "Meroitic_Cursive"),
    "Ancient logo-syllabic/Aegean": ("Linear_A", "Linear_B", "Cypriot"),
    "Ancient logo-syllabic/Anatolian hieroglyphic": ("Anatolian_Hieroglyphs",),
    # Eurasian runiform scripts (origin debated; grouped as a family)
    "Runiform/Turkic": ("Old_Turkic", "Old_Hungarian"),
    # scripts modelled on Chinese characters
    "Sinitic-derived/Sinitic": ("Yi", "Nushu", "Tangut"),
    # scripts invented in modern times without a parent script
    "Invented/West African": ("Adlam", "Nko", "Vai", "Bamum", "Bassa_Vah", "Mende_Kikakui", "Medefaidrin"),
    "Invented/East African": ("Osmanya",),
    "Invented/American": ("Cherokee", "Osage", "Canadian_Aboriginal"),
    "Invented/English spelling reform": ("Shavian", "Deseret", "Duployan"),
    "Invented/South Asian": ("Ol_Chiki", "Sora_Sompeng", "Warang_Citi", "Wancho"),
    "Invented/Southeast Asian": ("Pau_Cin_Hau", "Miao", "Pahawh_Hmong", "Nyiakeng_Puachue_Hmong", "Lisu", "Mro"),
    "Invented/Insular": ("Ogham",),
}

#: Unicode script name -> (family, branch)
GENEALOGY: dict[str, tuple[str, str]] = {
    script: tuple(path.split("/"))  # type: ignore[misc]
    for path, scripts in _TABLE.items()
    for script in scripts
}


def taxonomy_of(script: str) -> tuple[str, str, str]:
    """(family, branch, script) for a Unicode script name; KeyError if unknown."""
    family, branch = GENEALOGY[script]
    return family, branch, script.replace("_", " ")
