"""Generate the synthetic review-sentiment data set of a5_sentiment_lstm.

Writes train.tsv, dev.tsv and test.tsv next to this file (or into --out DIR).
Each line is ``label<TAB>text`` with label 1 = positive, 0 = negative; the
text is lower-case words separated by single spaces, without punctuation, so
``text.lower().split()`` is the whole tokeniser.  No header line.  Standard
library only, fixed seed: running the script twice gives byte-identical files.

The sentences are short movie or product reviews from a small template
grammar.  Each sentence is generated *for* a label chosen beforehand, and the
label follows these rules:

1. Polar words.  Every adjective ("good", "boring", "flimsy"), predicate
   phrase ("worth it", "a waste of time") and opinion verb ("loved", "hated")
   is either positive or negative.  Intensifiers and downtoners ("very",
   "really", "kind of", "a bit") never change the polarity: "really dull" is
   negative, "fairly good" is positive.

2. Negation flips.  A negator right before the polar word flips it:
   "not good", "never boring", "hardly worth it", "not bad at all",
   "far from perfect", "not very good", "i did not enjoy the story",
   "we never liked it", "i would not recommend it".

3. In a two-part sentence one part decides:
   - "A but B"          -> B decides, and A always has the other polarity:
                           "good acting but a boring story" is negative,
                           "a boring first half but a wonderful ending" is
                           positive;
   - "although A B"     -> B decides (A has the other polarity):
                           "although the plot was dull the cast was great"
                           is positive;
   - "B even though A"  -> B decides (A has the other polarity), so here the
                           FIRST part wins: "the phone is great even though
                           the battery is weak" is positive;
   - "A and B"          -> A and B have the same polarity, which is the label.
   Either part may itself be negated: "the acting was not bad but the story
   was dull" is negative.

About half of the "but" sentences come together with their swapped twin
("B but A"): the same bag of words with the opposite label, so a
bag-of-words model cannot get both right.  Since negated clauses and the
losing part of two-part sentences carry polar words against the label, a
bag-of-words classifier only gets the plain sentences right (about 0.60 on
dev and test), while a small LSTM reaches 0.99 in three epochs.

Splits: 3000 train, 600 dev, 600 test sentences, each exactly half positive.
No sentence occurs twice anywhere (no test sentence is in train or dev).
"""

import argparse
import os
import random

SEED = 5
SIZES = (("train", 3000), ("dev", 600), ("test", 600))
MIN_WORDS, MAX_WORDS = 3, 14

# How often each construction is drawn (see Grammar.sentence).
CONSTRUCTIONS = (
    ("plain", 0.42),  # the acting was really good
    ("negated", 0.15),  # the plot was not funny at all
    ("fragment", 0.04),  # not bad at all / hardly worth it
    ("but", 0.24),  # good acting but a boring story
    ("although", 0.05),  # although the plot was dull the cast was great
    ("even_though", 0.05),  # the phone is great even though the battery is weak
    ("and", 0.05),  # the plot was clever and i loved the ending
)

# ---------------------------------------------------------------- vocabulary
# Adjectives for both domains.
POS_ADJ = [
    "good",
    "great",
    "wonderful",
    "excellent",
    "brilliant",
    "superb",
    "fantastic",
    "amazing",
    "lovely",
    "solid",
    "impressive",
    "perfect",
    "pleasant",
    "enjoyable",
    "nice",
    "decent",
    "terrific",
    "outstanding",
    "fun",
    "awesome",
]
NEG_ADJ = [
    "bad",
    "awful",
    "terrible",
    "poor",
    "weak",
    "horrible",
    "dreadful",
    "mediocre",
    "disappointing",
    "lousy",
    "annoying",
    "cheap",
    "useless",
    "pathetic",
    "lame",
    "clumsy",
    "ugly",
    "frustrating",
    "crappy",
    "sloppy",
]

DOMAINS = {
    "movie": {
        # (noun, kind); kind is "count" (takes a/an), "mass" or "plural".
        "nouns": [
            ("movie", "count"),
            ("film", "count"),
            ("plot", "count"),
            ("story", "count"),
            ("script", "count"),
            ("ending", "count"),
            ("soundtrack", "count"),
            ("villain", "count"),
            ("finale", "count"),
            ("sequel", "count"),
            ("cast", "count"),
            ("lead actor", "count"),
            ("first half", "count"),
            ("twist", "count"),
            ("opening scene", "count"),
            ("acting", "mass"),
            ("dialogue", "mass"),
            ("music", "mass"),
            ("pacing", "mass"),
            ("direction", "mass"),
            ("humor", "mass"),
            ("cinematography", "mass"),
            ("editing", "mass"),
            ("characters", "plural"),
            ("visuals", "plural"),
            ("jokes", "plural"),
            ("special effects", "plural"),
            ("fight scenes", "plural"),
            ("costumes", "plural"),
        ],
        "pos": [
            "funny",
            "moving",
            "gripping",
            "clever",
            "charming",
            "touching",
            "thrilling",
            "beautiful",
            "memorable",
            "witty",
            "stunning",
            "fresh",
            "powerful",
            "exciting",
        ],
        "neg": [
            "boring",
            "dull",
            "tedious",
            "predictable",
            "silly",
            "bland",
            "forgettable",
            "confusing",
            "slow",
            "messy",
            "pointless",
            "stale",
            "cheesy",
            "corny",
        ],
        "pos_phrase": [
            "worth it",
            "worth watching",
            "worth the wait",
            "worth the ticket",
            "a real treat",
            "a pleasure to watch",
            "a must see",
        ],
        "neg_phrase": [
            "a waste of time",
            "a waste of money",
            "a mess",
            "a letdown",
            "a chore to sit through",
            "a disaster",
            "hard to watch",
        ],
        "things": ["movie", "film", "show", "sequel", "series"],
    },
    "product": {
        "nouns": [
            ("phone", "count"),
            ("laptop", "count"),
            ("battery", "count"),
            ("screen", "count"),
            ("camera", "count"),
            ("keyboard", "count"),
            ("charger", "count"),
            ("blender", "count"),
            ("case", "count"),
            ("app", "count"),
            ("design", "count"),
            ("price", "count"),
            ("printer", "count"),
            ("kettle", "count"),
            ("mouse", "count"),
            ("tablet", "count"),
            ("remote", "count"),
            ("sound", "mass"),
            ("packaging", "mass"),
            ("delivery", "mass"),
            ("build quality", "mass"),
            ("customer service", "mass"),
            ("software", "mass"),
            ("headphones", "plural"),
            ("speakers", "plural"),
            ("buttons", "plural"),
            ("instructions", "plural"),
            ("cables", "plural"),
        ],
        "pos": [
            "sturdy",
            "reliable",
            "fast",
            "comfortable",
            "durable",
            "sleek",
            "handy",
            "quiet",
            "responsive",
            "bright",
            "crisp",
            "helpful",
            "compact",
            "smooth",
        ],
        "neg": [
            "flimsy",
            "unreliable",
            "noisy",
            "faulty",
            "overpriced",
            "fragile",
            "sluggish",
            "buggy",
            "dim",
            "uncomfortable",
            "unhelpful",
            "broken",
            "bulky",
            "leaky",
        ],
        "pos_phrase": [
            "worth it",
            "worth the money",
            "worth every penny",
            "a great buy",
            "a bargain",
            "a pleasure to use",
            "a real gem",
        ],
        "neg_phrase": ["a waste of money", "a rip off", "a mess", "a letdown", "a disaster", "junk", "a total lemon"],
        "things": ["phone", "laptop", "blender", "product", "charger", "kettle"],
    },
}

INTENSIFIERS = ["very", "really", "quite", "truly", "extremely", "so", "incredibly", "pretty", "totally", "absolutely"]
DOWNTONERS = ["somewhat", "rather", "fairly", "kind of", "mostly"]
MILD_NEG = ["a bit", "slightly", "a little"]  # only before negative words
# Modifiers that read well inside a noun phrase ("really stunning visuals").
NP_MODIFIERS = ["very", "really", "truly", "pretty", "rather", "fairly"]
# Negators placed before an adjective ("not" is also used as "not X at all").
NEGATORS = ["not", "never", "hardly", "not really", "not very", "not that", "far from"]
PHRASE_NEGATORS = ["not", "never", "hardly", "far from", "not really"]

# Opinion verbs: (base form, past form).
POS_VERBS = [("love", "loved"), ("like", "liked"), ("enjoy", "enjoyed"), ("adore", "adored")]
NEG_VERBS = [("hate", "hated"), ("dislike", "disliked"), ("despise", "despised")]
VERB_SUBJECTS = ["i", "we", "my kids", "my friends", "everyone", "my wife", "my husband"]
OPENERS = ["honestly", "overall", "frankly", "in short", "to be honest", "all in all", "in the end"]


def article(next_word):
    return "an" if next_word[0] in "aeiou" else "a"


class Grammar:
    """Builds one sentence at a time for a given polarity (1 pos, 0 neg)."""

    def __init__(self, rng):
        self.r = rng
        self.used = set()  # nouns already used in the current sentence

    def pick(self, seq):
        return self.r.choice(seq)

    def chance(self, p):
        return self.r.random() < p

    # polar words ---------------------------------------------------------
    def adjective(self, dom, pol):
        general = POS_ADJ if pol else NEG_ADJ
        specific = DOMAINS[dom]["pos" if pol else "neg"]
        return self.pick(general if self.chance(0.5) else specific)

    def phrase(self, dom, pol):
        return self.pick(DOMAINS[dom]["pos_phrase" if pol else "neg_phrase"])

    def modified_adjective(self, dom, pol):
        """'good', 'really good', 'fairly good', 'a bit slow' (never flips)."""
        adj = self.adjective(dom, pol)
        u = self.r.random()
        if u < 0.3:
            return self.pick(INTENSIFIERS) + " " + adj
        if u < 0.45:
            return self.pick(DOWNTONERS + (MILD_NEG if pol == 0 else [])) + " " + adj
        return adj

    def negated_adjective(self, dom, pol):
        """Polarity pol from a negator + an adjective of the other polarity."""
        adj = self.adjective(dom, 1 - pol)
        neg = self.pick(NEGATORS)
        if neg == "not" and self.chance(0.4):
            return "not " + adj + " at all"
        return neg + " " + adj

    def negated_phrase(self, dom, pol):
        return self.pick(PHRASE_NEGATORS) + " " + self.phrase(dom, 1 - pol)

    # nouns -----------------------------------------------------------------
    def noun(self, dom):
        choices = [n for n in DOMAINS[dom]["nouns"] if n[0] not in self.used]
        noun, kind = self.pick(choices)
        self.used.add(noun)
        return noun, kind

    def subject(self, dom):
        noun, kind = self.noun(dom)
        det = self.pick(["the", "the", "these" if kind == "plural" else "this"])
        return det + " " + noun, kind == "plural"

    def be(self, plural):
        return self.pick(["are", "were"] if plural else ["is", "was"])

    def verb_object(self, dom):
        if self.chance(0.25):
            return "it"
        noun, kind = self.noun(dom)
        return self.pick(["the", "these" if kind == "plural" else "this"]) + " " + noun

    def noun_phrase(self, dom, pol):
        """'good acting', 'a boring story', 'really stunning visuals'."""
        noun, kind = self.noun(dom)
        adj = self.adjective(dom, pol)
        if self.chance(0.3):
            adj = self.pick(NP_MODIFIERS) + " " + adj
        if kind == "count":
            return article(adj) + " " + adj + " " + noun
        return adj + " " + noun

    # clauses ----------------------------------------------------------------
    def plain_clause(self, dom, pol):
        u = self.r.random()
        if u < 0.55:  # the acting was very good
            subj, pl = self.subject(dom)
            return subj + " " + self.be(pl) + " " + self.modified_adjective(dom, pol)
        if u < 0.7:  # the film was worth it
            subj, pl = self.subject(dom)
            return subj + " " + self.be(pl) + " " + self.phrase(dom, pol)
        if u < 0.8:  # i would recommend this phone
            thing = self.pick(DOMAINS[dom]["things"])
            verb = "recommend" if pol else "avoid"
            return self.pick(["i", "we"]) + " would " + verb + " this " + thing
        base, past = self.pick(POS_VERBS if pol else NEG_VERBS)  # i loved it
        who = self.pick(VERB_SUBJECTS)
        if who in ("i", "we") and self.chance(0.3):
            who += " " + self.pick(["really", "truly", "just"])
        return who + " " + past + " " + self.verb_object(dom)

    def negated_clause(self, dom, pol):
        u = self.r.random()
        if u < 0.55:  # the plot was not funny
            subj, pl = self.subject(dom)
            return subj + " " + self.be(pl) + " " + self.negated_adjective(dom, pol)
        if u < 0.7:  # the film was hardly worth it
            subj, pl = self.subject(dom)
            return subj + " " + self.be(pl) + " " + self.negated_phrase(dom, pol)
        if u < 0.8 and pol == 0:  # i would not recommend it
            thing = self.pick(DOMAINS[dom]["things"])
            return self.pick(["i", "we"]) + " would " + self.pick(["not", "never"]) + " recommend this " + thing
        base, past = self.pick(NEG_VERBS if pol else POS_VERBS)  # i did not like it
        who = self.pick(VERB_SUBJECTS)
        if self.chance(0.6):
            return who + " did not " + base + " " + self.verb_object(dom)
        return who + " never " + past + " " + self.verb_object(dom)

    def clause(self, dom, pol, p_neg=0.3):
        if self.chance(p_neg):
            return self.negated_clause(dom, pol)
        return self.plain_clause(dom, pol)

    def part(self, dom, pol):
        """One side of 'but' / 'and': a clause or a noun phrase."""
        if self.chance(0.35):
            return self.noun_phrase(dom, pol)
        return self.clause(dom, pol)

    # sentences ----------------------------------------------------------------
    def sentence(self, pol):
        """List of (text, label): one sentence, or a 'but' sentence and its twin."""
        self.used = set()
        dom = self.pick(sorted(DOMAINS))
        u, kind = self.r.random(), None
        for kind, weight in CONSTRUCTIONS:  # noqa: B007 (the last kind tried is the one drawn)
            u -= weight
            if u < 0:
                break
        if kind == "plain":
            s = self.plain_clause(dom, pol)
        elif kind == "negated":
            s = self.negated_clause(dom, pol)
        elif kind == "fragment":
            if self.chance(0.6):
                return [(self.negated_adjective(dom, pol), pol)]
            return [(self.negated_phrase(dom, pol), pol)]
        elif kind == "but":
            a, b = self.part(dom, 1 - pol), self.part(dom, pol)
            out = [(a + " but " + b, pol)]
            if self.chance(0.5):
                out.append((b + " but " + a, 1 - pol))
            return out
        elif kind == "although":
            a, b = self.clause(dom, 1 - pol), self.clause(dom, pol)
            return [("although " + a + " " + b, pol)]
        elif kind == "even_though":
            b, a = self.clause(dom, pol), self.clause(dom, 1 - pol)
            return [(b + " even though " + a, pol)]
        else:  # and
            return [(self.part(dom, pol) + " and " + self.part(dom, pol), pol)]
        if self.chance(0.15):
            s = self.pick(OPENERS) + " " + s
        return [(s, pol)]


def generate(seed=SEED):
    """Returns {split name: [(label, text), ...]}."""
    rng = random.Random(seed)
    grammar = Grammar(rng)
    per_label = sum(n for _, n in SIZES) // 2
    pools = {0: [], 1: []}
    seen = set()
    i = 0
    while len(pools[0]) < per_label or len(pools[1]) < per_label:
        for text, label in grammar.sentence(i % 2):
            if MIN_WORDS <= len(text.split()) <= MAX_WORDS and text not in seen and len(pools[label]) < per_label:
                seen.add(text)
                pools[label].append(text)
        i += 1
    for label in (0, 1):
        rng.shuffle(pools[label])
    splits, start = {}, 0
    for name, n in SIZES:
        half = n // 2
        rows = [(1, t) for t in pools[1][start : start + half]] + [(0, t) for t in pools[0][start : start + half]]
        rng.shuffle(rows)
        splits[name] = rows
        start += half
    return splits


def main():
    ap = argparse.ArgumentParser(description="Regenerate train/dev/test.tsv.")
    ap.add_argument(
        "--out",
        default=os.path.dirname(os.path.abspath(__file__)),
        help="output folder (default: the folder of this script)",
    )
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, rows in generate().items():
        path = os.path.join(args.out, name + ".tsv")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for label, text in rows:
                f.write("%d\t%s\n" % (label, text))
        print("wrote %s (%d lines)" % (path, len(rows)))


if __name__ == "__main__":
    main()
