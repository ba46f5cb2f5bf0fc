"""Request vocabulary per language and script: carrier words, language names, moods, categories, controls, replies.

Pure data. Every phrase is compared after `core.lang.text` normalisation and in its phonetic romanized form,
so one spelling per word is usually enough; ASR variants that the phonetic fold does not merge are listed.
Codes: en, hi, te, kn.
"""
from __future__ import annotations

__all__ = ["LANGS", "LANGUAGE_NAMES", "CARRIERS", "MUSIC_NOUNS", "STORY_NOUNS", "MUSIC_VERBS",
           "STORY_VERBS", "LANGUAGE_CUES", "MOODS", "MOOD_RELATED", "STORY_CATEGORIES", "MUSIC_CATEGORIES",
           "CONTROLS", "CONTROL_VARIANTS", "CONTROL_SYNONYMS", "POLITE", "CONTROL_LIGHT_FILLERS",
           "CONTROL_FILLERS", "RESUME_CUES", "RESUME_LEADS", "RESUME_WORDS", "SLEEP_STOP_WORDS", "SLEEP_TIMER_WORDS",
           "SLEEP_CONNECTORS", "SLEEP_AFTER_ITEM", "ENQUEUE_PATTERNS", "CHITCHAT", "QUESTION_WORDS"]

LANGS = ("en", "hi", "te", "kn")

# A language named in a request ("play a telugu song"); includes common ASR spellings ("canada" for Kannada).
LANGUAGE_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("english", "inglish", "angrezi", "angreji", "अंग्रेज़ी", "अंग्रेजी", "इंग्लिश", "ఇంగ్లీష్", "ఆంగ్ల",
           "ఇంగ్లిష్", "ಇಂಗ್ಲಿಷ್", "ಇಂಗ್ಲೀಷ್", "ಆಂಗ್ಲ"),
    "hi": ("hindi", "hindhi", "hindee", "kindi", "हिंदी", "हिन्दी", "హిందీ", "ಹಿಂದಿ"),
    "te": ("telugu", "telegu", "telgu", "thelugu", "telagu", "तेलुगु", "तेलुगू", "తెలుగు", "ತೆಲುಗು"),
    "kn": ("kannada", "kanada", "kannad", "canada", "kanadda", "कन्नड़", "कन्नड", "కన్నడ", "ಕನ್ನಡ"),
}

# Words that carry the request but never the title. Stripped from requests AND catalog keys, so they can
# never count as title evidence. Multi-word phrases are matched as token sequences.
CARRIERS: tuple[str, ...] = (
    # English
    "play", "plays", "playing", "sing", "singing", "put on", "put", "tell", "narrate", "read", "listen to", "listen",
    "hear", "let me hear", "i want to hear", "i want to listen to", "i want", "i wanna", "want", "can you",
    "could you", "would you", "will you", "please", "pls", "plz", "kindly", "me", "us", "my", "a", "an", "the",
    "some", "something", "anything", "any", "one", "another", "other", "random", "song", "songs", "music",
    # quantifiers: "a few rhymes", "a couple of stories" ask for the group, like "some"
    "few", "a few", "couple", "a couple", "a couple of", "couple of", "bunch of", "a bunch of", "lots of", "several",
    "a few more", "few more", "a couple more",
    "rhyme", "rhymes", "poem", "track", "tune", "story", "stories", "tale", "tales", "to", "for", "of", "in",
    "now", "again", "just", "start", "give", "get", "some more", "version", "called", "named", "about",
    "hey", "ok", "okay", "cheeko", "chiko", "cheeku", "on", "then", "and then",
    # Hindi (romanized + Devanagari)
    "bajao", "baja do", "bajaiye", "bajana", "sunao", "suna do", "sunaiye", "sunana", "chalao", "chala do",
    "lagao", "laga do", "play karo", "karo", "kar do", "gaana", "gana", "gaane", "gane", "geet", "sangeet",
    "kahani", "kahaani", "kahaniya", "kahaniyan", "kissa", "mujhe", "hume", "humein", "koi", "ek", "zara", "jara",
    "mein", "me", "wala", "wali", "waala", "ji", "na", "ki", "ka", "ke", "की", "का", "के", "kuch", "कुछ",
    "गाना", "गाने", "गीत", "संगीत", "म्यूजिक", "बजाओ", "बजा दो", "बजाइए", "सुनाओ", "सुना दो", "सुनाइए",
    "चलाओ", "चला दो", "लगाओ", "लगा दो", "प्ले करो", "प्ले", "करो", "कहानी", "कहानियां", "किस्सा", "मुझे", "हमें",
    "कोई", "एक", "ज़रा", "जरा", "में", "वाला", "वाली", "प्लीज़", "प्लीज",
    # Telugu
    "paata", "paatalu", "pettu", "pettandi", "vinipinchu", "vinipinchandi", "katha", "kathalu", "cheppu",
    "cheppandi", "oka", "naaku", "maaku", "edaina", "konni", "కొన్ని", "sangeetam", "cheyi", "cheyyi", "dayachesi",
    "play cheyi",
    "పాట", "పాటలు", "పెట్టు", "పెట్టండి", "వినిపించు", "వినిపించండి", "కథ", "కథలు", "చెప్పు", "చెప్పండి",
    "ఒక", "నాకు", "మాకు", "ఏదైనా", "సంగీతం", "ప్లే", "చేయి", "చెయ్యి", "చేయండి", "దయచేసి",
    # Kannada
    "haadu", "haadugalu", "haaku", "haaki", "kathe", "kate", "helu", "heli", "kelisu", "ondu", "nanage",
    "yavudadaru", "sangeeta", "maadu", "madi", "dayavittu", "play maadu", "kelavu", "ಕೆಲವು",
    "ಹಾಡು", "ಹಾಡುಗಳು", "ಹಾಕು", "ಹಾಕಿ", "ಕಥೆ", "ಕತೆ", "ಕಥೆಗಳು", "ಹೇಳು", "ಹೇಳಿ", "ಕೇಳಿಸು", "ಒಂದು", "ನನಗೆ",
    "ಯಾವುದಾದರೂ", "ಸಂಗೀತ", "ಪ್ಲೇ", "ಮಾಡು", "ಮಾಡಿ", "ದಯವಿಟ್ಟು",
)

# Nouns and verbs that decide music vs story (a noun beats a verb; both are also carriers).
MUSIC_NOUNS = ("song", "songs", "music", "rhyme", "rhymes", "poem", "tune", "track", "gaana", "gana", "gaane",
               "gane", "geet", "sangeet", "गाना", "गाने", "गीत", "संगीत", "म्यूजिक", "paata", "paatalu", "పాట",
               "పాటలు", "సంగీతం", "haadu", "haadugalu", "ಹಾಡು", "ಹಾಡುಗಳು", "ಸಂಗೀತ", "sangeetam", "sangeeta")
STORY_NOUNS = ("story", "stories", "tale", "tales", "kahani", "kahaani", "kahaniya", "kahaniyan", "kissa", "कहानी",
               "कहानियां", "किस्सा", "katha", "kathalu", "కథ", "కథలు", "kathe", "kate", "ಕಥೆ", "ಕತೆ", "ಕಥೆಗಳು")
MUSIC_VERBS = ("play", "sing", "put on", "put", "bajao", "baja do", "bajaiye", "बजाओ", "बजा दो", "बजाइए",
               "chalao", "चलाओ", "lagao", "लगाओ", "pettu", "పెట్టు", "పెట్టండి", "vinipinchu", "వినిపించు",
               "haaku", "haaki", "ಹಾಕು", "ಹಾಕಿ", "listen", "listen to", "hear", "प्ले", "ప్లే", "ಪ್ಲೇ")
STORY_VERBS = ("tell", "narrate", "read", "cheppu", "cheppandi", "చెప్పు", "చెప్పండి", "helu", "heli", "ಹೇಳು",
               "ಹೇಳಿ")

# Romanized words that reveal the language of a Latin-script utterance (native script decides by itself).
LANGUAGE_CUES: dict[str, tuple[str, ...]] = {
    "hi": ("bajao", "bajaiye", "sunao", "sunaiye", "suna", "baja", "gaana", "gaane", "kahani", "kahaani",
           "chalao", "lagao", "karo", "mujhe", "koi", "mein", "wala", "zara", "geet", "kahaniya", "dobara", "phir",
           "agla", "pichla", "awaaz", "aawaz", "badhao", "kam", "band", "bas", "ruko", "kaunsa", "kaun", "hai",
           "thehro", "ek", "pasand", "baad", "iske", "jaari", "chalu", "aage", "shuru", "maine", "humne", "baar",
           "daalo",
           "jodo", "bhi", "mere", "nahi", "ghanta", "ghante"),
    "te": ("paata", "pettu", "pettandi", "vinipinchu", "cheppu", "cheppandi", "naaku", "oka", "edaina", "katha",
           "malli", "aapu", "aapandi", "inkoka", "penchu", "tagginchu", "thagginchu", "enti", "aagu",
           "aagandi", "konasaginchu", "nachindi", "nachaledu", "nachina", "vinnanu", "ayyaka", "tarvata", "nimishalu",
           "nimishala", "nimisham", "ganta", "anni", "varusaga", "idi", "naa", "kuda", "okka", "cheyi", "istam",
           "aapesey", "aapeyi", "nimishallo"),
    "kn": ("haadu", "haaku", "haaki", "kathe", "helu", "heli", "nanage", "ondu", "matte", "nillisu", "innondu",
           "mundina", "hindina", "yaava", "jaasti", "kadime", "saaku", "nillu", "munduvarisu", "ishta", "kelide",
           "nantara", "nimisha", "nimishada", "gante", "ella", "idu", "idara", "mele", "kooda", "aamele", "swalpa",
           "serisu", "nanna", "ishtada", "beda", "maadu", "nillisibidu"),
}

# Mood / tag requests: canonical tag -> words. Catalog tags and shared aliases are folded through this table.
MOODS: dict[str, tuple[str, ...]] = {
    "calm": ("calm", "calming", "relaxing", "relax", "soothing", "peaceful", "quiet", "soft", "slow", "gentle",
             "shant", "shaant", "shanti", "शांत", "ప్రశాంతమైన", "ప్రశాంత", "ಶಾಂತ", "ಶಾಂತವಾದ"),
    "lullaby": ("lullaby", "lullabies", "lori", "lorie", "लोरी", "sleep", "sleepy", "sleeping", "bedtime",
                "bed time", "good night", "goodnight", "night", "neend", "नींद", "jola", "jola paata", "జోల",
                "జోల పాట", "jogula", "ಜೋಗುಳ", "nidra", "నిద్ర", "ನಿದ್ದೆ"),
    "dance": ("dance", "dancing", "dancy", "party", "naach", "nach", "नाच", "नाचने", "dance wala", "డాన్స్",
              "ఆట", "ಡ್ಯಾನ್ಸ್", "kunita", "ಕುಣಿತ"),
    "energetic": ("energetic", "energy", "upbeat", "peppy", "lively", "active", "fast", "jumpy", "josh", "joshila",
                  "जोशीला", "tez", "తేజం", "ఉత్సాహం", "utsaham", "ಉತ್ಸಾಹ", "utsaha"),
    "happy": ("happy", "cheerful", "joyful", "khushi", "खुशी", "సంతోషం", "ಖುಷಿ"),
    "funny": ("funny", "silly", "comedy", "mazedar", "मज़ेदार", "मजेदार", "హాస్య", "ತಮಾಷೆ"),
    "devotional": ("devotional", "bhajan", "bhakti", "prayer", "mantra", "shloka", "sloka", "slokas", "aarti",
                   "भजन", "भक्ति", "प्रार्थना", "మంత్రం", "శ్లోకం", "భక్తి", "ಭಕ್ತಿ", "ಶ್ಲೋಕ"),
    "educational": ("educational", "learning", "learn", "education", "counting", "numbers", "science",
                    "padhai", "पढ़ाई", "ज्ञान"),
    "animals": ("animal", "animals", "janwar", "जानवर", "జంతువుల", "ಪ್ರಾಣಿ"),
    "magic": ("magic", "magical", "jaadu", "jadui", "जादू", "जादुई", "మాయ", "ಮಾಯೆ"),
}
# When no entry carries a tag, these close moods are tried next.
MOOD_RELATED: dict[str, tuple[str, ...]] = {
    "calm": ("lullaby",), "lullaby": ("calm",), "dance": ("energetic", "happy"), "energetic": ("dance", "happy"),
    "happy": ("energetic", "funny"), "funny": ("happy",), "educational": ("phonics", "science"),
}

# Story categories (matched to story collections by name) and music collections that are not languages.
STORY_CATEGORIES: dict[str, tuple[str, ...]] = {
    "bedtime": ("bedtime", "bed time", "sleep", "sleepy", "sleeping", "night", "good night", "goodnight",
                "sone", "neend", "सोने", "नींद", "रात", "నిద్ర", "ನಿದ್ದೆ", "ಮಲಗುವ", "nidra"),
    "fantasy": ("fantasy", "magic", "magical", "jaadu", "jadui", "जादू", "जादुई", "మాయ", "ಮಾಯೆ", "dragon", "fairy"),
    "adventure": ("adventure", "adventures", "adventurous", "sahas", "saahas", "साहस", "సాహసం", "సాహస", "ಸಾಹಸ"),
    "educational": ("educational", "education", "learning", "learn", "science", "knowledge", "gyan", "ज्ञान",
                    "విజ్ఞాన", "ವಿಜ್ಞಾನ"),
    "fairy tales": ("fairy tale", "fairy tales", "fairytale", "fairytales", "pari", "pariyon", "परी", "परियों"),
}
MUSIC_CATEGORIES: dict[str, tuple[str, ...]] = {
    "phonics": ("phonics", "phonic", "abc", "abcd", "alphabet", "alphabets", "letters", "letter sounds"),
    "slokas": ("slokas", "shlokas", "sloka", "shloka"),
}

# Player controls: utterance -> plugin function. An utterance is a control only when it IS one of these phrases,
# compared twice: first with only politeness, articles and kind nouns removed (CONTROL_LIGHT_FILLERS: "repeat this
# song" -> "repeat this"), then with every CONTROL_FILLERS word removed ("stop the music please" -> "stop").
# A key is a function name, or a variant in CONTROL_VARIANTS that fixes the function's arguments.
CONTROLS: dict[str, tuple[str, ...]] = {
    # stop = end it (bas, band karo, aapu, nillisu, saaku); pause = wait, keep the place (ruko, aagu, nillu).
    "stop": ("stop", "stop playing", "stop stop", "stop it", "be quiet", "quiet", "shut up", "enough",
             "thats enough", "cancel", "turn off", "switch off", "bas", "bas karo", "band karo", "band", "chup",
             "bus", "बस", "बस करो", "बंद करो", "बंद", "बंद कर दो", "band kar dena", "बंद कर देना", "चुप", "aapu",
             "aapandi", "aapeyi", "ఆపు", "ఆపండి",
             "ఆపేయి", "ఆపెయ్", "ఆపేసెయ్", "aapesey", "nillisu", "nillisi", "nillisibidu", "ನಿಲ್ಲಿಸಿಬಿಡು", "saaku",
             "ನಿಲ್ಲಿಸು", "ನಿಲ್ಲಿಸಿ", "ಸಾಕು"),
    "pause": ("pause", "pause it", "hold on", "hang on", "wait", "wait a minute", "wait a second", "wait a moment",
              "one minute", "one second", "one moment", "just a minute", "just a second", "ek minute", "ek second",
              "ruko", "ruk jao", "ek minute ruko", "thoda ruko", "थोड़ा रुको", "thehro", "thamba", "रुको", "रुक जाओ",
              "रुकिए", "ठहरो",
              "एक मिनट", "एक मिनट रुको", "पॉज़", "पॉज", "aagu", "aagandi", "konchem aagu", "కొంచెం ఆగు",
              "okka nimisham", "ఆగు", "ఆగండి",
              "ఒక్క నిమిషం", "రుకో", "nillu", "swalpa nillu", "swalpa iru", "ondu nimisha", "ನಿಲ್ಲು",
              "ಸ್ವಲ್ಪ ನಿಲ್ಲು", "ಸ್ವಲ್ಪ ಇರು", "ಒಂದು ನಿಮಿಷ"),
    "resume": ("resume", "continue", "unpause", "keep playing", "keep going", "carry on", "go on", "play on",
               "continue playing", "dont stop", "carry on with", "continue with", "go on with", "chalu karo", "chalu",
               "jaari rakho", "aage sunao", "aage bajao", "aage chalao",
               "जारी रखो", "चालू करो", "आगे सुनाओ", "आगे बजाओ", "आगे चलाओ", "konasaginchu", "konasaginchandi",
               "కొనసాగించు", "కొనసాగించండి", "munduvarisu", "mundhuvarisu", "ಮುಂದುವರಿಸು", "ಮುಂದುವರಿಸಿ"),
    "next": ("next", "skip", "skip this", "next one", "another", "something else", "change", "change it",
             "agla", "agla wala", "dusra", "doosra", "aur ek", "ek aur", "अगला", "दूसरा", "और एक", "एक और", "inkoka",
             "inko", "vere", "taruvata", "తర్వాత", "తరువాత", "ఇంకొక", "ఇంకో", "వేరే", "mundina", "innondu",
             "ಮುಂದಿನ", "ಇನ್ನೊಂದು", "ಬೇರೆ", "bere", "play next", "play another", "play something else",
             "play different", "different"),
    "previous": ("previous", "go back", "back", "before", "last one", "one before", "pichla", "pichhla",
                 "पिछला", "पहले वाला", "play previous", "play last", "play before", "mundu", "munupati", "ముందటి",
                 "మునుపటి", "వెనుకటి", "hindina", "ಹಿಂದಿನ"),
    "play_again": ("repeat", "repeat it", "repeat that", "play it again", "play that again", "play again", "again",
                   "once more", "one more time", "sing it again", "tell it again", "tell again", "tell that again",
                   "same again", "start again", "start over",
                   "from the beginning", "start from the beginning", "play from the beginning",
                   "play from the start", "phir se", "fir se", "dobara", "ek baar aur", "shuru se", "फिर से",
                   "दोबारा", "एक बार और", "शुरू से", "malli", "malla", "మళ్ళీ", "మళ్లీ", "modati nunchi",
                   "మొదటి నుంచి", "matte", "matthe", "innomme", "ಮತ್ತೆ", "ಇನ್ನೊಮ್ಮೆ", "modalinda", "ಮೊದಲಿನಿಂದ"),
    "repeat_one": ("repeat this", "repeat this one", "loop this", "loop", "loop it", "repeat one", "keep repeating",
                   "keep repeating this", "play this on repeat", "on repeat", "isko repeat karo", "ise repeat karo",
                   "baar baar bajao", "ise baar baar bajao", "isko baar baar bajao", "इसे बार बार बजाओ",
                   "बार बार बजाओ", "इसको रिपीट करो", "malli malli pettu", "idi malli malli pettu", "dinni repeat cheyi",
                   "ఇది మళ్ళీ మళ్ళీ పెట్టు", "మళ్ళీ మళ్ళీ పెట్టు", "దీన్ని రిపీట్ చెయ్యి", "matte matte haaku",
                   "idannu matte matte haaku", "idannu repeat maadu", "ಇದನ್ನು ಮತ್ತೆ ಮತ್ತೆ ಹಾಕು", "ಮತ್ತೆ ಮತ್ತೆ ಹಾಕು",
                   "ಇದನ್ನು ರಿಪೀಟ್ ಮಾಡು"),
    "repeat_all": ("repeat all", "repeat everything", "repeat them all", "loop all", "loop everything",
                   "repeat the list", "repeat the whole list", "sab repeat karo", "sab baar baar bajao",
                   "सब रिपीट करो", "सब बार बार बजाओ", "anni repeat cheyi", "anni malli malli pettu",
                   "అన్నీ రిపీట్ చెయ్యి", "అన్నీ మళ్ళీ మళ్ళీ పెట్టు", "ella repeat maadu",
                   "ellavannu matte matte haaku",
                   "ಎಲ್ಲಾ ರಿಪೀಟ್ ಮಾಡು", "ಎಲ್ಲವನ್ನೂ ಮತ್ತೆ ಮತ್ತೆ ಹಾಕು"),
    "repeat_off": ("repeat off", "stop repeating", "no repeat", "no more repeat", "dont repeat", "turn off repeat",
                   "loop off", "stop the loop", "stop looping", "repeat band karo", "रिपीट बंद करो", "repeat aapu",
                   "repeat vaddu", "రిపీట్ ఆపు", "రిపీట్ వద్దు", "repeat nillisu", "repeat beda", "ರಿಪೀಟ್ ನಿಲ್ಲಿಸು",
                   "ರಿಪೀಟ್ ಬೇಡ"),
    "shuffle_on": ("shuffle", "shuffle on", "shuffle it", "turn on shuffle", "mix it up", "mix up", "mix them up",
                   "random order", "play in random order", "shuffle karo", "शफ़ल करो", "ulta pulta bajao",
                   "shuffle cheyi", "షఫుల్ చెయ్యి", "shuffle maadu", "ಶಫಲ್ ಮಾಡು"),
    "shuffle_off": ("shuffle off", "no shuffle", "stop shuffling", "stop shuffle", "turn off shuffle",
                    "play in order", "in order", "shuffle band karo", "शफ़ल बंद करो", "kram se bajao", "क्रम से बजाओ",
                    "shuffle aapu", "షఫుల్ ఆపు", "varusaga pettu", "వరుసగా పెట్టు", "shuffle nillisu",
                    "ಶಫಲ್ ನಿಲ್ಲಿಸು", "kramavagi haaku", "ಕ್ರಮವಾಗಿ ಹಾಕು"),
    "whats_next": ("whats next", "what is next", "what comes next", "what is coming next", "whats coming next",
                   "what will play next", "whats playing next", "what is playing next", "whats after this",
                   "what is after this", "which is next", "who is next",
                   "agla kaunsa hai", "agla kya hai", "iske baad kya hai", "अगला कौन सा है", "इसके बाद क्या है",
                   "tarvata edi", "tarvata enti", "తర్వాత ఏది", "తర్వాత ఏంటి", "mundinadu yaavudu", "aamele yaavudu",
                   "ಮುಂದಿನದು ಯಾವುದು", "ಆಮೇಲೆ ಯಾವುದು"),
    "cancel_timer": ("cancel the timer", "cancel timer", "cancel the sleep timer", "cancel sleep timer", "no timer",
                     "stop the timer", "turn off the timer", "remove the timer", "timer off",
                     "timer band karo", "timer hatao", "टाइमर बंद करो", "टाइमर हटाओ", "timer aapu",
                     "timer cancel cheyi", "టైమర్ ఆపు", "టైమర్ వద్దు", "timer nillisu", "timer cancel maadu",
                     "ಟೈಮರ್ ನಿಲ್ಲಿಸು", "ಟೈಮರ್ ಬೇಡ"),
    "what_playing": ("what is playing", "whats playing", "what playing", "what is this", "whats this",
                     "what is that", "which is this", "which is playing", "what are you playing", "name",
                     "what is name", "what is its name", "what is called", "whats called", "who sings",
                     "who sings this", "who is singing", "who is singing this", "who sang this", "whose is this",
                     "is this", "is it", "yeh kaunsa hai", "ye kaunsa hai", "kaunsa hai", "kaun sa hai", "ye kya hai",
                     "kya chal raha hai", "ye kaun ga raha hai", "kya ye hai", "यह कौन सा है", "ये कौन सा है",
                     "कौन सा है", "ये क्या है", "क्या चल रहा है", "ये कौन गा रहा है", "क्या ये है", "idi emi",
                     "idi edi",
                     "ఇది ఏమిటి", "ఇది ఏది", "ఏది ఇది", "ఇది ఏ", "evaru paadutunnaru", "ఎవరు పాడుతున్నారు",
                     "idu yaava", "idu yavudu", "ಇದು ಯಾವ", "ಇದು ಯಾವುದು", "yaaru haadutta iddare", "ಯಾರು ಹಾಡುತ್ತಿದ್ದಾರೆ",
                     "ಯಾವ", "what", "which", "what name", "whats", "what called", "kaunsa", "kaun sa", "कौनसा",
                     "कौन सा", "ఏ", "e", "yaava", "kya", "क्या", "ఏది", "edi"),
    "what_was_that": ("what was that", "what was last", "what was last one", "what was previous",
                      "what did you just play", "what was playing before", "which was that", "what was it",
                      "woh kaunsa tha", "vo kaunsa tha", "wo kaunsa tha", "pichla kaunsa tha", "abhi kaunsa tha",
                      "वो कौन सा था", "वह कौन सा था", "पिछला कौन सा था", "अभी कौन सा था", "adi e", "adi edi",
                      "indaka vachina edi", "mundu vachina edi", "అది ఏ", "అది ఏది", "ఇందాక వచ్చిన ఏది",
                      "ముందు వచ్చిన ఏది", "adu yaava", "adu yaavudu", "hindina yaavudu", "ಅದು ಯಾವ", "ಅದು ಯಾವುದು",
                      "ಹಿಂದಿನ ಯಾವುದು"),
    "history": ("what did i listen to", "what did we listen to", "what did i hear", "what did we hear",
                "what did we play", "what have i heard", "what have we heard",
                "what have i listened to", "what have we played", "history", "listening history",
                "maine kya suna", "maine kya kya suna", "humne kya suna", "kya suna", "kya kya suna",
                "मैंने क्या सुना", "मैंने क्या क्या सुना", "हमने क्या सुना", "क्या सुना", "nenu emi vinnanu",
                "emi vinnanu", "em vinnanu", "manam emi vinnam", "నేను ఏమి విన్నాను", "ఏమి విన్నాను", "ఏం విన్నాను",
                "మనం ఏమి విన్నాం", "naanu enu kelide", "enu kelide", "naavu enu kelidevu", "ನಾನು ಏನು ಕೇಳಿದೆ",
                "ಏನು ಕೇಳಿದೆ", "ನಾವು ಏನು ಕೇಳಿದೆವು"),
    "favourite_add": ("i like this", "i like it", "i love this", "i love it", "i like this one", "i love this one",
                      "i really like this", "i really love this", "add to favourite", "add this to favourite",
                      "add it to favourite", "save to favourite", "favourite this", "make this favourite",
                      "mark as favourite", "this is favourite", "save this", "mujhe ye pasand hai",
                      "mujhe yeh pasand hai", "ye mujhe pasand hai", "yeh mujhe pasand hai", "mujhe pasand hai",
                      "ye pasand hai", "pasand hai", "ये मुझे पसंद है", "मुझे पसंद है", "mujhe ye accha laga",
                      "favourite mein daalo", "favourite mein add karo", "मुझे यह पसंद है", "मुझे ये पसंद है",
                      "ये पसंद है", "मुझे ये अच्छा लगा", "फेवरेट में डालो", "naaku idi nachindi", "idi nachindi",
                      "ee naaku nachindi", "naaku nachindi", "ఈ నాకు నచ్చింది",
                      "నాకు నచ్చింది",
                      "naaku idi istam", "favourite lo pettu", "నాకు ఇది నచ్చింది", "ఇది నచ్చింది", "నాకు ఇది ఇష్టం",
                      "ఫేవరెట్ లో పెట్టు", "nanage idu ishta", "idu ishta", "ee nanage ishta", "nanage ishta",
                      "ಈ ನನಗೆ ಇಷ್ಟ", "ನನಗೆ ಇಷ್ಟ", "nanage idu ishta aaytu",
                      "favourite ge haaku", "ನನಗೆ ಇದು ಇಷ್ಟ", "ಇದು ಇಷ್ಟ", "ಇದು ಇಷ್ಟ ಆಯ್ತು", "ಫೇವರೆಟ್ ಗೆ ಹಾಕು"),
    "favourite_remove": ("remove from favourite", "remove this from favourite", "remove it from favourite",
                         "take this off favourite", "unfavourite", "unfavourite this", "i dont like this",
                         "i dont like it", "i dont like this one", "not favourite", "mujhe ye pasand nahi",
                         "mujhe ye pasand nahi hai", "mujhe pasand nahi", "ye mujhe pasand nahi", "ye pasand nahi",
                         "ye pasand nahi hai", "favourite se hatao",
                         "मुझे यह पसंद नहीं", "मुझे ये पसंद नहीं है", "ये पसंद नहीं है", "फेवरेट से हटाओ",
                         "naaku idi nachaledu", "idi nachaledu", "naaku nachaledu", "నాకు నచ్చలేదు",
                         "favourite nunchi teeseyi", "నాకు ఇది నచ్చలేదు",
                         "ఇది నచ్చలేదు", "ఫేవరెట్ నుంచి తీసేయి", "nanage idu ishta illa", "idu ishta illa",
                         "nanage ishta illa", "ನನಗೆ ಇಷ್ಟ ಇಲ್ಲ",
                         "favourite inda tegi", "ನನಗೆ ಇದು ಇಷ್ಟ ಇಲ್ಲ", "ಇದು ಇಷ್ಟ ಇಲ್ಲ", "ಫೇವರೆಟ್ ಇಂದ ತೆಗೆ"),
    "play_favourites": ("play favourite", "favourite", "play my favourite", "mere favourite bajao",
                        "meri pasand ke bajao", "pasandida bajao", "मेरे फेवरेट बजाओ", "पसंदीदा गाने बजाओ",
                        "मेरी पसंद के गाने बजाओ", "naa favourite pettu", "naaku nachina pettu",
                        "నా ఫేవరెట్ పాటలు పెట్టు",
                        "నాకు నచ్చిన పాటలు పెట్టు", "nanna favourite haaku", "nanage ishtada haaku",
                        "ನನ್ನ ಫೇವರೆಟ್ ಹಾಡುಗಳು ಹಾಕು", "ನನಗೆ ಇಷ್ಟದ ಹಾಡುಗಳು ಹಾಕು"),
    "volume_up": ("volume up", "louder", "turn up", "turn it up", "increase volume", "increase the volume",
                  "raise volume", "more volume", "make louder", "loud", "up volume", "volume badhao",
                  "awaaz badhao", "aawaz badhao", "awaz badhao", "awaaz tez karo", "आवाज़ बढ़ाओ", "आवाज बढ़ाओ",
                  "वॉल्यूम बढ़ाओ", "आवाज़ तेज़ करो", "sound penchu", "volume penchu", "సౌండ్ పెంచు",
                  "వాల్యూమ్ పెంచు", "sound jaasti maadu", "volume jaasti", "ಸೌಂಡ್ ಜಾಸ್ತಿ ಮಾಡು", "ವಾಲ್ಯೂಮ್ ಜಾಸ್ತಿ",
                  "ವಾಲ್ಯೂಮ್ ಹೆಚ್ಚಿಸು"),
    "volume_down": ("volume down", "softer", "quieter", "turn down", "turn it down", "lower volume",
                    "lower the volume", "decrease volume", "decrease the volume", "reduce volume", "too loud",
                    "less loud", "down volume", "volume kam karo", "awaaz kam karo", "aawaz kam karo",
                    "awaz kam karo", "aawaz dheere karo", "आवाज़ कम करो", "आवाज कम करो", "वॉल्यूम कम करो", "धीरे करो",
                    "sound tagginchu", "sound thagginchu", "volume tagginchu", "సౌండ్ తగ్గించు", "వాల్యూమ్ తగ్గించు",
                    "sound kadime maadu", "volume kadime", "ಸೌಂಡ್ ಕಡಿಮೆ ಮಾಡು", "ವಾಲ್ಯೂಮ್ ಕಡಿಮೆ", "ವಾಲ್ಯೂಮ್ ಕಡಿಮೆ ಮಾಡು"),
}
# Control keys that are one function with fixed arguments.
CONTROL_VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "repeat_one": ("set_repeat", {"mode": "one"}), "repeat_all": ("set_repeat", {"mode": "all"}),
    "repeat_off": ("set_repeat", {"mode": "off"}), "shuffle_on": ("shuffle", {"on": True}),
    "shuffle_off": ("shuffle", {"on": False}), "favourite_add": ("favourite", {"add": True}),
    "favourite_remove": ("favourite", {"add": False}),
}
# Loanwords said in any script, folded to one spelling before control phrases are compared.
CONTROL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "favourite": ("favourites", "favorite", "favorites", "fav", "favs", "faves", "फेवरेट", "फ़ेवरेट", "फेवरिट",
                  "ఫేవరెట్", "ఫేవరేట్", "ಫೇವರೆಟ್", "ಫೇವರಿಟ್"),
    "repeat": ("रिपीट", "రిపీట్", "ರಿಪೀಟ್"),
    "shuffle": ("शफ़ल", "शफल", "షఫుల్", "ಶಫಲ್"),
    "timer": ("timers", "टाइमर", "టైమర్", "ಟೈಮರ್"),
    "continue": ("कंटिन्यू", "కంటిన్యూ", "ಕಂಟಿನ್ಯೂ"),
    "pause": ("पॉज़", "पॉज", "పాజ్", "ಪಾಸ್"),
    "queue": ("क्यू", "క్యూ", "ಕ್ಯೂ"),
    "list": ("लिस्ट", "లిస్ట్", "ಲಿಸ್ಟ್"),
}
# Removed in the first comparison: politeness, articles, kind nouns, "today", helper verbs. Demonstratives stay,
# so "repeat this" (keep repeating) and "repeat" (play it again) stay apart.
# Politeness and address: dropped around a request's slots ("play baby shark next please").
POLITE = ("please", "pls", "plz", "kindly", "hey", "ok", "okay", "can you", "could you", "would you", "will you",
          "just", "now", "ji", "zara", "jara", "ज़रा", "जरा", "जी", "dayachesi", "దయచేసి", "dayavittu", "ದಯವಿಟ್ಟು")
CONTROL_LIGHT_FILLERS = POLITE + (
    "the", "a", "an", "my", "today", "aaj", "आज", "ee roju", "eroju", "ఈ రోజు", "ఈరోజు", "ivattu", "ಇವತ್ತು", "karo",
    "kar do", "cheyi", "cheyyi", "maadu", "करो", "कर दो", "చేయి", "చెయ్యి", "ಮಾಡು", "bajao", "sunao", "chalao",
    "lagao", "pettu", "vinipinchu", "haaku", "बजाओ", "सुनाओ", "चलाओ", "लगाओ", "పెట్టు", "వినిపించు", "ಹಾಕು", "song",
    "songs", "story", "stories", "music", "track", "tune", "gaana", "gana", "gaane", "gane", "kahani", "kahaani",
    "paata", "paatalu", "katha", "kathalu", "haadu", "haadugalu", "kathe", "गाना", "गाने", "कहानी", "పాట", "పాటలు",
    "కథ", "ಹಾಡು", "ಹಾಡುಗಳು", "ಕಥೆ")

# "Play it again from where it stopped": any of these asks to resume (with nothing else but request words).
RESUME_CUES = ("where it stopped", "where we stopped", "where you stopped", "where it was", "where we were",
               "where we left off", "where you left off", "where it left off", "left off", "where it paused",
               "where we paused", "from the same place", "jahan ruka tha", "jahan ruke the", "jahan ruki thi",
               "wahin se", "wahi se", "जहाँ रुका था", "जहां रुका था", "जहाँ रुके थे", "जहाँ रुकी थी", "वहीं से",
               "aagina daggara", "aapina daggara", "ఆగిన దగ్గర", "ఆపిన దగ్గర", "nintallinda", "nillisidallinda",
               "ನಿಂತಲ್ಲಿಂದ", "ನಿಲ್ಲಿಸಿದಲ್ಲಿಂದ")
# "Continue the bedtime story": a request opening with one of these and naming no title is a resume.
RESUME_LEADS = ("continue", "resume", "carry on", "carry on with", "go on with", "continue with", "keep playing",
                "jaari rakho", "जारी रखो", "aage sunao", "आगे सुनाओ", "konasaginchu", "కొనసాగించు", "munduvarisu",
                "ಮುಂದುವರಿಸು")
RESUME_WORDS = ("continue", "resume", "start", "play", "again", "from", "go", "on", "back", "carry", "se", "nunchi",
                "inda", "से", "నుంచి", "ఇంచి", "ಇಂದ", "phir", "फिर", "malli", "మళ్ళీ", "matte", "ಮತ್ತೆ", "chalu",
                "चालू", "shuru", "शुरू")

# Sleep timer: "stop in 10 minutes", "sleep timer 20 minutes", "stop after this story", "10 मिनट बाद बंद करो".
# Recognised when every word is one of these, a duration (core.lang.numbers) or a CONTROL_FILLERS word.
SLEEP_STOP_WORDS = ("stop", "stop playing", "turn off", "turn it off", "switch off", "shut off", "off", "sleep",
                    "go to sleep", "band", "band karo", "band kar do", "band kar dena", "band karna", "बंद", "बंद करो",
                    "बंद कर दो", "बंद कर देना", "बंद करना", "aapesey", "aapeseyi", "ఆపేసెయ్", "ఆపేసేయి", "ఆపేయ్",
                    "nillisibidu", "ನಿಲ್ಲಿಸಿಬಿಡು", "aapu", "aapeyi",
                    "aapey", "ఆపు", "ఆపేయి", "ఆపెయ్", "ఆపండి", "nillisu", "nillisi", "ನಿಲ್ಲಿಸು", "ನಿಲ್ಲಿಸಿ",
                    "off cheyi", "off maadu")
SLEEP_TIMER_WORDS = ("timer", "sleep timer", "set timer", "set a timer", "set the timer", "set sleep timer",
                     "set a sleep timer", "टाइमर", "टाइमर लगाओ", "timer lagao", "timer pettu", "టైమర్ పెట్టు",
                     "timer haaku", "ಟೈಮರ್ ಹಾಕು")
SLEEP_CONNECTORS = ("in", "after", "for", "within", "at", "then", "and", "of", "baad", "बाद", "mein", "में", "ke",
                    "liye", "लिए",
                    "के", "tarvata", "taruvata", "తర్వాత", "తరువాత", "lo", "లో", "nantara", "ನಂತರ", "mele", "ಮೇಲೆ",
                    "alli", "ಅಲ್ಲಿ", "ee", "ఈ", "ಈ", "idu", "ಇದು", "idi", "ఇది", "is", "इस", "ye", "ये", "यह")
SLEEP_AFTER_ITEM = ("after this", "after this one", "after it", "after that", "after the current",
                    "at the end of this", "at the end", "end of this", "when this ends", "when it ends",
                    "when this is over", "when its over", "when this finishes", "when it finishes",
                    "when this is done", "when its done", "once this ends", "once this is over",
                    "iske baad", "is ke baad", "इसके बाद", "इस के बाद", "khatam hone ke baad", "khatam hone par",
                    "khatam hote hi", "ख़त्म होने के बाद", "खत्म होने के बाद", "ख़त्म होने पर", "खत्म होने पर",
                    "ee tarvata", "dini tarvata", "idi ayyaka", "idi aipoyaka", "ayyaka", "aipoyaka",
                    "ఈ తర్వాత", "దీని తర్వాత", "ఇది అయ్యాక", "ఇది అయిపోయాక", "అయ్యాక", "అయిపోయాక", "idara nantara",
                    "aada mele", "mugida mele", "mugida nantara", "ಇದರ ನಂತರ", "ಆದ ಮೇಲೆ", "ಮುಗಿದ ಮೇಲೆ",
                    "ಮುಗಿದ ನಂತರ")

# "Play X next" / "add X": {title} is the slot; (a|b|) is a choice, an empty choice makes the word optional.
ENQUEUE_PATTERNS: dict[str, tuple[str, ...]] = {
    "next": ("(play|put|) {title} next", "(play|put|) {title} after this (one|song|story|)",
             "after this (one|song|story|) (play|put|) {title}", "next play {title}", "then play {title}",
             "(iske|is ke) baad {title} (bajao|sunao|chalao|lagao)", "इसके बाद {title} (बजाओ|सुनाओ|चलाओ|लगाओ)",
             "{title} (iske|is ke) baad (bajao|sunao|chalao|lagao)", "{title} इसके बाद (बजाओ|सुनाओ|चलाओ|लगाओ)",
             "{title} (ko|) (next|agla) (bajao|sunao|chalao|lagao)",
             "{title} (को|) (नेक्स्ट|अगला) (बजाओ|सुनाओ|चलाओ|लगाओ)",
             "(idi ayyaka|dini tarvata|ee (paata|katha|) tarvata) {title} (pettu|vinipinchu|cheppu)",
             "(ఇది అయ్యాక|దీని తర్వాత|ఈ (పాట|కథ|) తర్వాత) {title} (పెట్టు|వినిపించు|చెప్పు)",
             "{title} next (pettu|vinipinchu|cheppu)", "{title} (నెక్స్ట్|next) (పెట్టు|వినిపించు|చెప్పు)",
             "(idara nantara|idu aada mele|ee (haadu|kathe|) aada mele) {title} (haaku|helu|kelisu)",
             "(ಇದರ ನಂತರ|ಇದು ಆದ ಮೇಲೆ|ಈ (ಹಾಡು|ಕಥೆ|) ಆದ ಮೇಲೆ) {title} (ಹಾಕು|ಹೇಳು|ಕೇಳಿಸು)",
             "{title} next (haaku|helu|kelisu)", "{title} (ನೆಕ್ಸ್ಟ್|next) (ಹಾಕು|ಹೇಳು|ಕೇಳಿಸು)"),
    "end": ("add {title}", "add {title} (to|in|on) (the|my|) (queue|list|playlist)", "add {title} (at|to) the end",
            "add {title} too", "queue {title}", "queue up {title}", "put {title} (in|on) the (queue|list)",
            "play {title} later", "play {title} at the end", "also play {title}",
            "{title} (ko|) (queue|list) (mein|me) (daalo|dalo|lagao)", "{title} (को|) (क्यू|लिस्ट) में (डालो|लगाओ)",
            "{title} (jodo|jod do|add karo)", "{title} (जोड़ो|जोड़ दो|ऐड करो)", "{title} bhi (bajao|sunao|chalao)",
            "{title} भी (बजाओ|सुनाओ|चलाओ)", "{title} baad (mein|me) (bajao|sunao|chalao)",
            "{title} बाद में (बजाओ|सुनाओ|चलाओ)",
            "{title} (ni|) (queue|list) lo (pettu|cheyi)", "{title} (ని|) (క్యూ|లిస్ట్) లో పెట్టు",
            "{title} (add cheyi|kalupu)",
            "{title} (యాడ్ చెయ్యి|కలుపు)", "{title} kuda (pettu|vinipinchu)", "{title} కూడా (పెట్టు|వినిపించు)",
            "{title} tarvata (pettu|vinipinchu)", "{title} తర్వాత (పెట్టు|వినిపించు)",
            "{title} (annu|) (queue|list) (ge|alli) haaku", "{title} (ಕ್ಯೂಗೆ|ಲಿಸ್ಟ್‌ಗೆ|ಕ್ಯೂ ಗೆ) ಹಾಕು",
            "{title} (serisu|add maadu)",
            "{title} (ಸೇರಿಸು|ಆಡ್ ಮಾಡು)", "{title} kooda haaku", "{title} ಕೂಡ ಹಾಕು", "{title} aamele haaku",
            "{title} ಆಮೇಲೆ ಹಾಕು"),
}

# Removed before control phrases are compared ("stop the music please" -> "stop").
CONTROL_FILLERS = ("please", "pls", "now", "the", "this", "that", "it", "its", "song", "songs", "music", "story",
                   "track", "one", "a", "hey", "ok", "okay", "cheeko", "chiko", "cheeku", "can you", "could you",
                   "you", "just", "right", "kindly", "ji", "zara", "jara", "gaana",
                   "gana", "kahani", "wala", "karo", "kar do", "do", "is", "s", "paata", "katha", "haadu", "kathe",
                   "के", "गाना", "कहानी", "ज़रा", "जी", "करो", "పాట", "కథ", "ಹಾಡು", "ಕಥೆ", "దయచేసి",
                   "ದಯವಿಟ್ಟು", "song's", "of", "for", "me", "mujhe", "naaku", "nanage", "yeh", "ye", "idi", "idu",
                   "ఇది", "ಇದು", "यह", "ये", "hai", "है", "chal", "raha", "bajao", "sunao", "baja",
                   "suna", "pettu", "haaku", "cheppu", "helu", "बजाओ", "सुनाओ", "పెట్టు", "ಹಾಕು", "maadu", "ಮಾಡು",
                   "karo", "please", "cheyi", "చేయి", "ki", "की")
# Small talk that is not a request: answered with a friendly line about what the speaker can do.
CHITCHAT = ("hi", "hello", "hey", "hii", "namaste", "namaskar", "namaskaram", "namaskara", "नमस्ते", "नमस्कार",
            "నమస్తే", "నమస్కారం", "ನಮಸ್ಕಾರ", "how are you", "who are you", "what is your name", "whats your name",
            "thank you", "thanks", "thank", "dhanyavad", "shukriya", "धन्यवाद", "ధన్యవాదాలు", "ಧನ್ಯವಾದ", "bye",
            "goodbye", "good morning", "good evening", "good afternoon", "yes", "no", "haan", "nahi", "ok", "okay",
            "hmm", "um", "uh", "what can you do", "help", "i love you")
QUESTION_WORDS = ("what", "whats", "why", "how", "who", "when", "where", "which", "is", "are", "do", "does", "did",
                  "can", "kya", "kyon", "kyun", "kaise", "kab", "kahan", "kaun", "क्या", "क्यों", "कैसे", "कब",
                  "कहाँ", "कौन", "enti", "ela", "ఎందుకు", "ఏమిటి", "ఎలా", "yaake", "hege", "ಏಕೆ", "ಹೇಗೆ", "ಏನು")
