"""Spoken replies in English, Hindi, Telugu and Kannada, and the words they are built from.

Pure data plus one lookup. `{title}`, `{requested}`, `{what}` ... are filled in by the plugins; a key missing in a
language falls back to English, so a new reply can land in English first.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

from core.lang import registry

__all__ = ["REPLIES", "NOUNS", "LANGUAGE_NAMES_IN", "say", "duration_words", "join_titles", "clip_words",
           "ECHO_WORDS", "ECHO_CHARS", "column", "noun", "language_name"]

# Spoken replies. {title}, {requested}, {what} are filled in by the plugins.
REPLIES: dict[str, dict[str, str]] = {
    "now_playing": {"en": "Now playing {title}.", "hi": "अब सुनिए {title}.", "te": "ఇప్పుడు {title} వినండి.",
                    "kn": "ಈಗ {title} ಕೇಳಿ."},
    "now_telling": {"en": "Here is the story {title}.", "hi": "सुनिए कहानी {title}.", "te": "ఇదిగో కథ {title}.",
                    "kn": "ಇಲ್ಲಿದೆ ಕಥೆ {title}."},
    "group_pick": {"en": "Here's {what}: {title}.", "hi": "यह रहा {what}: {title}.", "te": "ఇదిగో {what}: {title}.",
                   "kn": "ಇಲ್ಲಿದೆ {what}: {title}."},
    "not_found": {"en": "I couldn't find {requested}.", "hi": "मुझे {requested} नहीं मिला.",
                  "te": "నాకు {requested} దొరకలేదు.", "kn": "ನನಗೆ {requested} ಸಿಗಲಿಲ್ಲ."},
    "instead": {"en": "Here's {what} instead: {title}.", "hi": "इसकी जगह यह {what} सुनिए: {title}.",
                "te": "దానికి బదులు ఈ {what}: {title}.", "kn": "ಅದರ ಬದಲು ಈ {what}: {title}."},
    "offer": {"en": "You can ask me for {what} like {title}.", "hi": "आप {title} जैसा {what} माँग सकते हैं.",
              "te": "మీరు {title} లాంటి {what} అడగవచ్చు.", "kn": "ನೀವು {title} ತರಹದ {what} ಕೇಳಬಹುದು."},
    # After a miss while something was playing: the alternative offered in words, then what was playing goes on.
    "offer_say_music": {"en": "Say 'play {title}' to hear it.", "hi": "सुनना हो तो बोलो: {title} बजाओ.",
                        "te": "వినాలంటే అనండి: {title} పెట్టు.", "kn": "ಕೇಳಬೇಕಾದರೆ ಹೇಳಿ: {title} ಹಾಕು."},
    "offer_say_story": {"en": "Say 'tell me {title}' to hear it.", "hi": "सुनना हो तो बोलो: {title} सुनाओ.",
                        "te": "వినాలంటే అనండి: {title} చెప్పు.", "kn": "ಕೇಳಬೇಕಾದರೆ ಹೇಳಿ: {title} ಹೇಳು."},
    "empty_catalog": {"en": "Sorry, I don't have any {what} yet.", "hi": "माफ़ कीजिए, अभी कोई {what} नहीं है.",
                      "te": "క్షమించండి, ఇంకా {what} లేవు.", "kn": "ಕ್ಷಮಿಸಿ, ಇನ್ನೂ {what} ಇಲ್ಲ."},
    "help": {"en": "I can play songs and tell stories. Try: play Baa Baa Black Sheep, or tell me a bedtime story.",
             "hi": "मैं गाने बजा सकता हूँ और कहानियाँ सुना सकता हूँ. बोलिए: हिंदी गाना बजाओ.",
             "te": "నేను పాటలు వినిపిస్తాను, కథలు చెబుతాను. అనండి: తెలుగు పాట పెట్టు.",
             "kn": "ನಾನು ಹಾಡು ಹಾಕುತ್ತೇನೆ, ಕಥೆ ಹೇಳುತ್ತೇನೆ. ಹೇಳಿ: ಕನ್ನಡ ಹಾಡು ಹಾಕು."},

    # ---- the player (issue 9). {what} is NOUNS[kind][lang]; {minutes} is duration_words(); {titles} join_titles().
    "paused": {"en": "Okay, I'll wait. Say continue when you're ready.",
               "hi": "ठीक है, रोक दिया. आगे सुनना हो तो बोलो: चालू करो.",
               "te": "సరే, ఆపాను. కొనసాగించు అని చెప్పగానే అక్కడి నుంచే వినిపిస్తాను.",
               "kn": "ಸರಿ, ನಿಲ್ಲಿಸಿದ್ದೇನೆ. ಮುಂದುವರಿಸು ಎಂದು ಹೇಳಿದರೆ ಅಲ್ಲಿಂದಲೇ ಕೇಳಿಸುತ್ತೇನೆ."},
    "resumed": {"en": "Carrying on with {title}.", "hi": "लो, {title} वहीं से आगे.",
                "te": "{title} ఆగిన దగ్గర నుంచి కొనసాగిస్తున్నాను.", "kn": "{title} ನಿಂತಲ್ಲಿಂದ ಮುಂದುವರಿಸುತ್ತಿದ್ದೇನೆ."},
    "continuing": {"en": "Let's go on with {title}.", "hi": "चलो, {title} आगे सुनते हैं.",
                   "te": "{title} కొనసాగిద్దాం.", "kn": "{title} ಮುಂದುವರಿಸೋಣ."},
    "nothing_to_resume": {"en": "There's nothing to continue. Ask me for a song or a story!",
                          "hi": "अभी आगे सुनाने को कुछ नहीं है. कोई गाना या कहानी माँगो!",
                          "te": "కొనసాగించడానికి ఏమీ లేదు. ఒక పాట లేదా కథ అడుగు!",
                          "kn": "ಮುಂದುವರಿಸಲು ಏನೂ ಇಲ್ಲ. ಒಂದು ಹಾಡು ಅಥವಾ ಕಥೆ ಕೇಳು!"},
    "nothing_playing": {"en": "Nothing is playing right now.", "hi": "अभी कुछ नहीं बज रहा.",
                        "te": "ఇప్పుడు ఏమీ వినిపించడం లేదు.", "kn": "ಈಗ ಏನೂ ಕೇಳಿಸುತ್ತಿಲ್ಲ."},
    "stopped_after": {"en": "That's the end of the {what}. Bye for now!", "hi": "बस, {what} खत्म! फिर मिलेंगे.",
                      "te": "{what} అయిపోయింది. మళ్ళీ కలుద్దాం!", "kn": "{what} ಮುಗಿಯಿತು. ಮತ್ತೆ ಸಿಗೋಣ!"},
    "timer_set_minutes": {"en": "Okay, I'll stop in {minutes}.", "hi": "ठीक है, {minutes} बाद बंद हो जाएगा.",
                          "te": "సరే, {minutes} తర్వాత ఆపేస్తాను.", "kn": "ಸರಿ, {minutes} ನಂತರ ನಿಲ್ಲಿಸುತ್ತೇನೆ."},
    "timer_set_after_item": {"en": "Okay, I'll stop after this {what}.", "hi": "ठीक है, बस यह {what}, फिर बंद.",
                             "te": "సరే, ఈ {what} అయిపోగానే ఆపేస్తాను.",
                             "kn": "ಸರಿ, ಈ {what} ಮುಗಿದ ಮೇಲೆ ನಿಲ್ಲಿಸುತ್ತೇನೆ."},
    "timer_cancelled": {"en": "Okay, no timer. I'll keep playing.", "hi": "ठीक है, टाइमर हटा दिया.",
                        "te": "సరే, టైమర్ తీసేశాను.", "kn": "ಸರಿ, ಟೈಮರ್ ತೆಗೆದುಹಾಕಿದೆ."},
    "no_timer": {"en": "There's no timer on right now.", "hi": "अभी कोई टाइमर नहीं लगा है.",
                 "te": "ఇప్పుడు టైమర్ ఏదీ లేదు.", "kn": "ಈಗ ಯಾವ ಟೈಮರ್ ಕೂಡ ಇಲ್ಲ."},
    "queued_next": {"en": "Okay, {title} comes next.", "hi": "ठीक है, इसके बाद {title}.",
                    "te": "సరే, దీని తర్వాత {title}.", "kn": "ಸರಿ, ಇದರ ನಂತರ {title}."},
    "queued_end": {"en": "Okay, I've added {title} to the list.", "hi": "ठीक है, {title} लिस्ट में जोड़ दिया.",
                   "te": "సరే, {title} లిస్ట్‌లో చేర్చాను.", "kn": "ಸರಿ, {title} ಪಟ್ಟಿಗೆ ಸೇರಿಸಿದೆ."},
    "up_next": {"en": "Next up: {title}.", "hi": "इसके बाद: {title}.", "te": "తర్వాత: {title}.",
                "kn": "ಮುಂದಿನದು: {title}."},
    "nothing_next": {"en": "Nothing else is lined up after this.", "hi": "इसके बाद कुछ नहीं है.",
                     "te": "దీని తర్వాత ఇంకేమీ లేదు.", "kn": "ಇದರ ನಂತರ ಬೇರೆ ಏನೂ ಇಲ್ಲ."},
    "repeat_one": {"en": "Okay, I'll play this one again and again.", "hi": "ठीक है, यही बार-बार बजेगा.",
                   "te": "సరే, ఇదే మళ్ళీ మళ్ళీ వినిపిస్తాను.", "kn": "ಸರಿ, ಇದನ್ನೇ ಮತ್ತೆ ಮತ್ತೆ ಹಾಕುತ್ತೇನೆ."},
    "repeat_all": {"en": "Okay, I'll go round the whole list again and again.",
                   "hi": "ठीक है, पूरी लिस्ट बार-बार बजेगी.", "te": "సరే, అన్నీ మళ్ళీ మళ్ళీ వినిపిస్తాను.",
                   "kn": "ಸರಿ, ಎಲ್ಲವನ್ನೂ ಮತ್ತೆ ಮತ್ತೆ ಹಾಕುತ್ತೇನೆ."},
    "repeat_off": {"en": "Okay, no more repeating.", "hi": "ठीक है, अब दोहराना बंद.", "te": "సరే, ఇక రిపీట్ చేయను.",
                   "kn": "ಸರಿ, ಇನ್ನು ರಿಪೀಟ್ ಮಾಡುವುದಿಲ್ಲ."},
    "shuffle_on": {"en": "Okay, I'll mix them up.", "hi": "ठीक है, अब किसी भी क्रम में बजेंगे.",
                   "te": "సరే, ఇప్పుడు కలగలిపి వినిపిస్తాను.", "kn": "ಸರಿ, ಈಗ ಬೆರೆಸಿ ಹಾಕುತ್ತೇನೆ."},
    "shuffle_off": {"en": "Okay, back in order.", "hi": "ठीक है, अब क्रम से बजेंगे.",
                    "te": "సరే, ఇప్పుడు వరుసగా వినిపిస్తాను.", "kn": "ಸರಿ, ಈಗ ಕ್ರಮವಾಗಿ ಹಾಕುತ್ತೇನೆ."},
    "favourite_added": {"en": "Yay! {title} is one of your favourites now.",
                        "hi": "वाह! {title} अब तुम्हारी पसंद की लिस्ट में है.",
                        "te": "భలే! {title} ఇప్పుడు నీకు ఇష్టమైన వాటిలో ఉంది.",
                        "kn": "ಸೂಪರ್! {title} ಈಗ ನಿನ್ನ ಇಷ್ಟದ ಪಟ್ಟಿಯಲ್ಲಿದೆ."},
    "favourite_removed": {"en": "Okay, I took {title} off your favourites.",
                          "hi": "ठीक है, {title} पसंद की लिस्ट से हटा दिया.",
                          "te": "సరే, {title} ని ఇష్టమైన వాటి నుంచి తీసేశాను.",
                          "kn": "ಸರಿ, {title} ಅನ್ನು ಇಷ್ಟದ ಪಟ್ಟಿಯಿಂದ ತೆಗೆದಿದ್ದೇನೆ."},
    "no_favourites": {"en": "You don't have any favourites yet. Say 'I like this' while something plays!",
                      "hi": "अभी कोई पसंदीदा नहीं है. कुछ बजते समय बोलो: मुझे यह पसंद है!",
                      "te": "ఇంకా ఇష్టమైనవి ఏవీ లేవు. ఏదైనా వినిపిస్తున్నప్పుడు నాకు ఇది నచ్చింది అని చెప్పు!",
                      "kn": "ಇನ್ನೂ ಇಷ್ಟದವು ಯಾವುದೂ ಇಲ್ಲ. ಏನಾದರೂ ಕೇಳುವಾಗ ನನಗೆ ಇದು ಇಷ್ಟ ಎಂದು ಹೇಳು!"},
    "history_intro": {"en": "Lately you listened to {titles}.", "hi": "हाल में तुमने सुना: {titles}.",
                      "te": "ఈ మధ్య నువ్వు విన్నవి: {titles}.", "kn": "ಇತ್ತೀಚೆಗೆ ನೀನು ಕೇಳಿದ್ದು: {titles}."},
    "history_empty": {"en": "We haven't played anything yet.", "hi": "अभी तक कुछ नहीं बजा.",
                      "te": "ఇంకా ఏమీ వినిపించలేదు.", "kn": "ಇನ್ನೂ ಏನೂ ಹಾಕಿಲ್ಲ."},
    "was_that": {"en": "That was the {what} {title}.", "hi": "अभी सुना: {what} {title}.", "te": "అది {what} {title}.",
                 "kn": "ಅದು {what} {title}."},
    "changed_restart": {"en": "{title} has changed, so I'll start it from the beginning.",
                        "hi": "{title} में बदलाव हुआ है, इसलिए शुरू से सुनो.",
                        "te": "{title} మారింది, అందుకే మొదటి నుంచి వినిపిస్తాను.",
                        "kn": "{title} ಬದಲಾಗಿದೆ, ಅದಕ್ಕೆ ಮೊದಲಿನಿಂದ ಹಾಕುತ್ತೇನೆ."},
    "cannot_find_any_more": {"en": "I can't find {title} any more.", "hi": "{title} अब उपलब्ध नहीं है.",
                             "te": "{title} ఇప్పుడు దొరకడం లేదు.", "kn": "{title} ಈಗ ಸಿಗುತ್ತಿಲ್ಲ."},
    "busy": {"en": "I'm busy right now, try again in a moment.",
             "hi": "मैं अभी व्यस्त हूँ, थोड़ी देर में फिर कोशिश करो.",
             "te": "నేను ఇప్పుడు బిజీగా ఉన్నాను, కాసేపట్లో మళ్ళీ ప్రయత్నించు.",
             "kn": "ನಾನು ಈಗ ಬ್ಯುಸಿ ಇದ್ದೇನೆ, ಸ್ವಲ್ಪ ಹೊತ್ತಿನ ನಂತರ ಮತ್ತೆ ಪ್ರಯತ್ನಿಸು."},
    # ---- the parents' rules (core/devices/policy.py): kind, never scolding.
    "policy_bedtime": {"en": "It's quiet time now. Sleep well, and we'll play again tomorrow!",
                       "hi": "अब सोने का समय है. अच्छे से सो जाओ, कल फिर सुनेंगे!",
                       "te": "ఇప్పుడు నిద్ర సమయం. హాయిగా పడుకో, రేపు మళ్ళీ వింటాం!",
                       "kn": "ಈಗ ನಿದ್ದೆಯ ಸಮಯ. ಚೆನ್ನಾಗಿ ಮಲಗು, ನಾಳೆ ಮತ್ತೆ ಕೇಳೋಣ!"},
    "policy_quiet": {"en": "It's quiet time now. Let's play again a bit later.",
                     "hi": "अभी शांत समय है. थोड़ी देर बाद फिर सुनेंगे.",
                     "te": "ఇప్పుడు నిశ్శబ్ద సమయం. కాసేపయ్యాక మళ్ళీ విందాం.",
                     "kn": "ಈಗ ಶಾಂತ ಸಮಯ. ಸ್ವಲ್ಪ ಹೊತ್ತಿನ ನಂತರ ಮತ್ತೆ ಕೇಳೋಣ."},
    "policy_limit": {"en": "That's all the listening for today. Let's play again tomorrow!",
                     "hi": "आज के लिए इतना ही सुनना था. कल फिर सुनेंगे!",
                     "te": "ఈ రోజుకి వినడం అయిపోయింది. రేపు మళ్ళీ విందాం!",
                     "kn": "ಇವತ್ತಿಗೆ ಕೇಳಿದ್ದು ಸಾಕು. ನಾಳೆ ಮತ್ತೆ ಕೇಳೋಣ!"},
    "policy_pause": {"en": "Let's take a little break now.",
                     "hi": "चलो अब थोड़ा आराम करते हैं.",
                     "te": "ఇప్పుడు కొంచెం విరామం తీసుకుందాం.",
                     "kn": "ಈಗ ಸ್ವಲ್ಪ ವಿರಾಮ ತೆಗೆದುಕೊಳ್ಳೋಣ."},
    "alert_title": {"en": "Reminder", "hi": "याद रखो", "te": "గుర్తుంచుకో", "kn": "ನೆನಪಿರಲಿ"},
    "policy_not_allowed": {"en": "Let's pick something else. How about a song?",
                           "hi": "चलो कुछ और चुनते हैं. एक गाना सुनें?",
                           "te": "వేరేది ఎంచుకుందాం. ఒక పాట వింటావా?",
                           "kn": "ಬೇರೆ ಏನಾದರೂ ಆರಿಸೋಣ. ಒಂದು ಹಾಡು ಕೇಳೋಣವಾ?"},
    # Lines the player's plugins, the renderer and the session core speak.
    "now_is": {"en": "This is {what} {title}.", "hi": "यह {what} है: {title}.", "te": "ఇది {what}: {title}.",
               "kn": "ಇದು {what}: {title}."},
    "nothing_played": {"en": "Nothing has played yet. Ask me for a song or a story!",
                       "hi": "अभी तक कुछ नहीं बजा. कोई गाना या कहानी माँगो!",
                       "te": "ఇంకా ఏమీ వినిపించలేదు. ఒక పాట లేదా కథ అడుగు!",
                       "kn": "ಇನ್ನೂ ಏನೂ ಹಾಕಿಲ್ಲ. ಒಂದು ಹಾಡು ಅಥವಾ ಕಥೆ ಕೇಳು!"},
    "next_item": {"en": "Next {what}: {title}.", "hi": "अब {what}: {title}.", "te": "తర్వాతి {what}: {title}.",
                  "kn": "ಮುಂದಿನ {what}: {title}."},
    "previous_item": {"en": "Going back to {title}.", "hi": "वापस चलते हैं: {title}.",
                      "te": "వెనక్కి వెళ్దాం: {title}.", "kn": "ಹಿಂದಕ್ಕೆ ಹೋಗೋಣ: {title}."},
    "nothing_before": {"en": "There's nothing before this one.", "hi": "इससे पहले कुछ नहीं है.",
                       "te": "దీనికి ముందు ఏమీ లేదు.", "kn": "ಇದಕ್ಕಿಂತ ಮೊದಲು ಏನೂ ಇಲ್ಲ."},
    "only_one": {"en": "That's the only one I have.", "hi": "मेरे पास बस यही एक है.",
                 "te": "నా దగ్గర ఇది ఒక్కటే ఉంది.", "kn": "ನನ್ನ ಹತ್ತಿರ ಇದೊಂದೇ ಇದೆ."},
    "once_more": {"en": "Once more: {title}.", "hi": "एक बार और: {title}.", "te": "మళ్ళీ ఒకసారి: {title}.",
                  "kn": "ಇನ್ನೊಮ್ಮೆ: {title}."},
    "louder": {"en": "Louder!", "hi": "आवाज़ बढ़ा दी!", "te": "సౌండ్ పెంచాను!", "kn": "ಸೌಂಡ್ ಜಾಸ್ತಿ ಮಾಡಿದೆ!"},
    "quieter": {"en": "Quieter.", "hi": "आवाज़ कम कर दी.", "te": "సౌండ్ తగ్గించాను.", "kn": "ಸೌಂಡ್ ಕಡಿಮೆ ಮಾಡಿದೆ."},
    "no_volume": {"en": "I can't change the volume on this speaker. Please use its buttons.",
                  "hi": "इस स्पीकर की आवाज़ मैं नहीं बदल सकता. इसके बटन दबाओ.",
                  "te": "ఈ స్పీకర్ సౌండ్ నేను మార్చలేను. దాని బటన్లు నొక్కు.",
                  "kn": "ಈ ಸ್ಪೀಕರ್ ಸೌಂಡ್ ನಾನು ಬದಲಿಸಲಾರೆ. ಅದರ ಬಟನ್ ಒತ್ತು."},
    "volume_failed": {"en": "Sorry, I couldn't change the volume.", "hi": "माफ़ करना, आवाज़ नहीं बदली जा सकी.",
                      "te": "క్షమించు, సౌండ్ మార్చలేకపోయాను.", "kn": "ಕ್ಷಮಿಸು, ಸೌಂಡ್ ಬದಲಿಸಲು ಆಗಲಿಲ್ಲ."},
    "cannot_play": {"en": "Sorry, I couldn't play that one.", "hi": "माफ़ करना, यह नहीं चल पाया.",
                    "te": "క్షమించు, అది వినిపించలేకపోయాను.", "kn": "ಕ್ಷಮಿಸು, ಅದನ್ನು ಹಾಕಲು ಆಗಲಿಲ್ಲ."},
    "cannot_open": {"en": "Sorry, I couldn't open that one right now.", "hi": "माफ़ करना, अभी यह खुल नहीं पाया.",
                    "te": "క్షమించు, ఇప్పుడు అది తెరవలేకపోయాను.", "kn": "ಕ್ಷಮಿಸು, ಈಗ ಅದನ್ನು ತೆರೆಯಲು ಆಗಲಿಲ್ಲ."},
    "sorry_error": {"en": "Sorry, something went wrong. Please try again.",
                    "hi": "माफ़ करना, कुछ गड़बड़ हो गई. फिर से कोशिश करो.",
                    "te": "క్షమించు, ఏదో పొరపాటు జరిగింది. మళ్ళీ ప్రయత్నించు.",
                    "kn": "ಕ್ಷಮಿಸು, ಏನೋ ತಪ್ಪಾಯಿತು. ಮತ್ತೆ ಪ್ರಯತ್ನಿಸು."},
    "didnt_catch": {"en": "Sorry, I didn't catch that.", "hi": "माफ़ करना, ठीक से सुनाई नहीं दिया.",
                    "te": "క్షమించు, సరిగ్గా వినిపించలేదు.", "kn": "ಕ್ಷಮಿಸು, ಸರಿಯಾಗಿ ಕೇಳಿಸಲಿಲ್ಲ."},
}

# "song" / "story" in each reply language.
NOUNS: dict[str, dict[str, str]] = {
    "music": {"en": "song", "hi": "गाना", "te": "పాట", "kn": "ಹಾಡು"},
    "story": {"en": "story", "hi": "कहानी", "te": "కథ", "kn": "ಕಥೆ"},
}
# A language's name as said in another language: LANGUAGE_NAMES_IN[reply language][language code].
LANGUAGE_NAMES_IN: dict[str, dict[str, str]] = {
    "en": {"en": "English", "hi": "Hindi", "te": "Telugu", "kn": "Kannada"},
    "hi": {"en": "अंग्रेज़ी", "hi": "हिंदी", "te": "तेलुगु", "kn": "कन्नड़"},
    "te": {"en": "ఇంగ్లీష్", "hi": "హిందీ", "te": "తెలుగు", "kn": "కన్నడ"},
    "kn": {"en": "ಇಂಗ್ಲಿಷ್", "hi": "ಹಿಂದಿ", "te": "ತೆಲುಗು", "kn": "ಕನ್ನಡ"},
}


# What the user asked for is echoed back only this far ("I couldn't find <first words>."): a whole sentence
# read back costs synthesis time that other devices wait for, and tells the child nothing more.
ECHO_WORDS = 6
ECHO_CHARS = 60


def clip_words(text: str, max_words: int = ECHO_WORDS, max_chars: int = ECHO_CHARS) -> str:
    """The first `max_words` words of `text`, and no more than `max_chars` characters (cut at a word if possible)."""
    words = str(text).split()
    out = " ".join(words[:max_words])
    if len(out) > max_chars:
        cut = out.rfind(" ", 0, max_chars + 1)
        out = out[:cut] if cut > 0 else out[:max_chars]
    return out.rstrip(",;:.!?")


class _Column(Mapping[str, str]):
    """One language's column of a key -> {language: line} table, read live (a line added later is seen)."""
    __slots__ = ("_table", "_lang")

    def __init__(self, table: Mapping[str, Mapping[str, str]], lang: str) -> None:
        self._table, self._lang = table, lang

    def __getitem__(self, key: str) -> str:
        return self._table[key][self._lang]

    def __iter__(self) -> Iterator[str]:
        return (k for k, row in self._table.items() if self._lang in row)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def column(table: Mapping[str, Mapping[str, str]], lang: str) -> Mapping[str, str]:
    """`table`'s lines in `lang` (a language record's `replies` / `nouns`)."""
    return _Column(table, lang)


def say(key: str, lang: str, **slots: str) -> str:
    """The reply `key` in `lang` (the default language's line when that language, or the registry, has none),
    with its slots filled. `requested` (the user's own words) is clipped to a few words."""
    line = registry.get(lang).replies.get(key) or registry.get(registry.DEFAULT).replies.get(key)
    if line is None:
        raise KeyError(f"no reply {key!r} in core/lang/replies.py")
    if "requested" in slots:
        slots["requested"] = clip_words(slots["requested"])
    return line.format(**slots)


def noun(kind: str, lang: str) -> str:
    """"song" / "story" (`kind` "music" / "story") in the reply language."""
    return registry.get(lang).nouns.get(kind) or registry.get(registry.DEFAULT).nouns.get(kind) or kind


def language_name(code: str | None, lang: str) -> str:
    """The name of language `code` said in `lang` ("Hindi", "हिंदी"); "" when `lang` has no word for it."""
    named = registry.find(code)
    if named is None:
        return ""
    if lang == registry.DEFAULT:
        return named.label
    return registry.get(lang).names_in.get(named.code, "")


# Minutes and hours as they stand before "in" / "बाद" / "తర్వాత" / "ನಂತರ" in timer_set_minutes: the last unit takes
# the oblique form (10 నిమిషాల తర్వాత, 1 ಗಂಟೆಯ ನಂತರ), an hour before minutes the plain one (1 ಗಂಟೆ 30 ನಿಮಿಷಗಳ ನಂತರ).
_MINUTE = {"en": ("minute", "minutes"), "hi": ("मिनट", "मिनट"), "te": ("నిమిషం", "నిమిషాల"),
           "kn": ("ನಿಮಿಷದ", "ನಿಮಿಷಗಳ")}
_HOUR_LAST = {"en": ("hour", "hours"), "hi": ("घंटे", "घंटे"), "te": ("గంట", "గంటల"), "kn": ("ಗಂಟೆಯ", "ಗಂಟೆಗಳ")}
_HOUR_PLAIN = {"en": ("hour", "hours"), "hi": ("घंटा", "घंटे"), "te": ("గంట", "గంటలు"), "kn": ("ಗಂಟೆ", "ಗಂಟೆ")}
_AND = {"en": " and ", "hi": " और ", "te": " మరియు ", "kn": " ಮತ್ತು "}


def duration_words(minutes: int, lang: str) -> str:
    """10 -> "10 minutes" / "10 मिनट" / "10 నిమిషాల" / "10 ನಿಮಿಷಗಳ"; 90 -> "1 hour and 30 minutes"."""
    lang = lang if lang in _MINUTE else "en"
    hours, mins = divmod(max(0, int(minutes)), 60)
    if not hours:
        return f"{mins} {_MINUTE[lang][mins != 1]}"
    if not mins:
        return f"{hours} {_HOUR_LAST[lang][hours != 1]}"
    joint = " and " if lang == "en" else " "
    return f"{hours} {_HOUR_PLAIN[lang][hours != 1]}{joint}{mins} {_MINUTE[lang][mins != 1]}"


def join_titles(titles: list[str], lang: str) -> str:
    """["A", "B", "C"] -> "A, B and C" in the reply language."""
    if len(titles) < 2:
        return "".join(titles)
    return ", ".join(titles[:-1]) + _AND.get(lang, _AND["en"]) + titles[-1]
