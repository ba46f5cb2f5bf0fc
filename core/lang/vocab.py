"""Request vocabulary per language and script: carrier words, language names, moods, categories, controls, replies.

Pure data. Every phrase is compared after `core.lang.text` normalisation and in its phonetic romanized form,
so one spelling per word is usually enough; ASR variants that the phonetic fold does not merge are listed.
Codes: en, hi, te, kn.
"""
from __future__ import annotations

__all__ = ["LANGS", "LANGUAGE_LABELS", "LANGUAGE_NAMES", "CARRIERS", "MUSIC_NOUNS", "STORY_NOUNS", "MUSIC_VERBS",
           "STORY_VERBS", "LANGUAGE_CUES", "MOODS", "MOOD_RELATED", "STORY_CATEGORIES", "MUSIC_CATEGORIES",
           "CONTROLS", "CONTROL_FILLERS", "CHITCHAT", "QUESTION_WORDS"]

LANGS = ("en", "hi", "te", "kn")
LANGUAGE_LABELS = {"en": "English", "hi": "Hindi", "te": "Telugu", "kn": "Kannada"}

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
    "rhyme", "rhymes", "poem", "track", "tune", "story", "stories", "tale", "tales", "to", "for", "of", "in",
    "now", "again", "just", "start", "give", "get", "some more", "version", "called", "named", "about",
    "hey", "ok", "okay", "cheeko", "chiko", "cheeku", "on",
    # Hindi (romanized + Devanagari)
    "bajao", "baja do", "bajaiye", "bajana", "sunao", "suna do", "sunaiye", "sunana", "chalao", "chala do",
    "lagao", "laga do", "play karo", "karo", "kar do", "gaana", "gana", "gaane", "gane", "geet", "sangeet",
    "kahani", "kahaani", "kahaniya", "kahaniyan", "kissa", "mujhe", "hume", "humein", "koi", "ek", "zara", "jara",
    "mein", "me", "wala", "wali", "waala", "ji", "na", "ki", "ka", "ke", "की", "का", "के",
    "गाना", "गाने", "गीत", "संगीत", "म्यूजिक", "बजाओ", "बजा दो", "बजाइए", "सुनाओ", "सुना दो", "सुनाइए",
    "चलाओ", "चला दो", "लगाओ", "लगा दो", "प्ले करो", "प्ले", "करो", "कहानी", "कहानियां", "किस्सा", "मुझे", "हमें",
    "कोई", "एक", "ज़रा", "जरा", "में", "वाला", "वाली", "प्लीज़", "प्लीज",
    # Telugu
    "paata", "paatalu", "pettu", "pettandi", "vinipinchu", "vinipinchandi", "katha", "kathalu", "cheppu",
    "cheppandi", "oka", "naaku", "maaku", "edaina", "sangeetam", "cheyi", "cheyyi", "dayachesi", "play cheyi",
    "పాట", "పాటలు", "పెట్టు", "పెట్టండి", "వినిపించు", "వినిపించండి", "కథ", "కథలు", "చెప్పు", "చెప్పండి",
    "ఒక", "నాకు", "మాకు", "ఏదైనా", "సంగీతం", "ప్లే", "చేయి", "చెయ్యి", "చేయండి", "దయచేసి",
    # Kannada
    "haadu", "haadugalu", "haaku", "haaki", "kathe", "kate", "helu", "heli", "kelisu", "ondu", "nanage",
    "yavudadaru", "sangeeta", "maadu", "madi", "dayavittu", "play maadu",
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
           "agla", "pichla", "awaaz", "aawaz", "badhao", "kam", "band", "bas", "ruko", "kaunsa", "kaun", "hai"),
    "te": ("paata", "pettu", "pettandi", "vinipinchu", "cheppu", "cheppandi", "naaku", "oka", "edaina", "katha",
           "malli", "aapu", "aapandi", "inkoka", "penchu", "tagginchu", "thagginchu", "enti", "ee"),
    "kn": ("haadu", "haaku", "haaki", "kathe", "helu", "heli", "nanage", "ondu", "matte", "nillisu", "innondu",
           "mundina", "hindina", "yaava", "jaasti", "kadime", "saaku"),
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

# Transport controls. An utterance is a control only when, after fillers are removed, it IS one of these phrases.
CONTROLS: dict[str, tuple[str, ...]] = {
    "stop": ("stop", "stop playing", "stop stop", "be quiet", "quiet", "shut up", "enough", "thats enough",
             "cancel", "turn off", "switch off", "bas", "bas karo", "band karo", "band", "chup", "ruko", "bus",
             "बस", "बस करो", "बंद करो", "बंद", "रुको", "चुप", "aapu", "aapandi", "aapeyi", "ఆపు", "ఆపండి", "ఆపేయి",
             "nillisu", "nillisi", "saaku", "ನಿಲ್ಲಿಸು", "ನಿಲ್ಲಿಸಿ", "ಸಾಕು"),
    "pause": ("pause", "hold on", "wait", "ek minute", "ठहरो", "पॉज़", "पॉज", "రుకో", "ఆగు", "aagu", "ಸ್ವಲ್ಪ ನಿಲ್ಲು",
              "ನಿಲ್ಲು", "thamba"),
    "resume": ("resume", "continue", "unpause", "keep playing", "carry on", "go on", "chalu karo", "जारी रखो",
               "चालू करो", "కొనసాగించు", "ಮುಂದುವರಿಸು", "mundhuvarisu"),
    "next": ("next", "skip", "skip this", "next one", "another", "something else", "change", "change it",
             "agla", "agla wala", "dusra", "doosra", "aur ek", "ek aur", "अगला", "दूसरा", "और एक", "एक और", "inkoka",
             "inko", "vere", "taruvata", "తర్వాత", "తరువాత", "ఇంకొక", "ఇంకో", "వేరే", "mundina", "innondu",
             "ಮುಂದಿನ", "ಇನ್ನೊಂದು", "ಬೇರೆ", "bere", "play next", "play another", "play something else", "play different", "different"),
    "previous": ("previous", "go back", "back", "before", "last one", "one before", "pichla", "pichhla",
                 "पिछला", "पहले वाला", "play previous", "play last", "play before", "mundu", "munupati", "ముందటి", "మునుపటి", "వెనుకటి", "hindina", "ಹಿಂದಿನ"),
    "play_again": ("repeat", "repeat it", "repeat that", "play it again", "play that again", "again", "once more",
               "one more time", "sing it again", "same again", "phir se", "fir se", "dobara", "ek baar aur",
               "फिर से", "दोबारा", "एक बार और", "malli", "malla", "మళ్ళీ", "మళ్లీ", "matte", "matthe", "innomme",
               "ಮತ್ತೆ", "ಇನ್ನೊಮ್ಮೆ"),
    "what_playing": ("what is playing", "whats playing", "what playing", "what is this", "whats this",
                     "what is that", "which is this", "which is playing", "what are you playing", "name",
                     "what is name", "what is its name", "what is called", "whats called", "who sings",
                     "yeh kaunsa hai", "ye kaunsa hai", "kaunsa hai", "kaun sa hai", "ye kya hai", "kya chal raha hai",
                     "यह कौन सा है", "ये कौन सा है", "कौन सा है", "ये क्या है", "क्या चल रहा है", "idi emi", "idi edi",
                     "ఇది ఏమిటి", "ఇది ఏది", "ఏది ఇది", "ఇది ఏ", "idu yaava", "idu yavudu", "ಇದು ಯಾವ", "ಇದು ಯಾವುದು",
                     "ಯಾವ", "what", "which", "what name", "whats", "what called", "kaunsa", "kaun sa", "कौनसा",
                     "कौन सा", "ఏ", "e", "yaava", "kya", "क्या", "ఏది", "edi"),
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
