/**
 * Words for retrieval: lower-cased, stop-words dropped, and a light English
 * stemmer so "shipping", "shipped" and "ships" meet "ship". The same functions
 * process the sources and the question; nothing here knows about tenants.
 */

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu;

/** Function words and texting filler: they say nothing about which answer is meant. */
const STOP_WORDS = new Set(
  `a about above after again all am an and any are aren't as at be because been before being below between both but by can can't could
   did didn't do does doesn't doing don't down during each few for from further get got had has have having he her here hers him his
   how i i'd i'll i'm i've if in into is isn't it it's its just let's me might more most must my no nor not now of off on once only or
   other our ours out over own please same she should so some still such than thank thanks that that's the their theirs them then
   there there's these they this those through to too under until up us very want was wasn't we we're were what what's when where
   which while who whom why will with would you you're your yours hi hello hey ok okay yes yeah tell know need like also`
    .split(/\s+/)
    .filter(Boolean),
);

const VOWEL = /[aeiouy]/;

function undouble(word: string): string {
  return /([b-df-hj-km-np-rtv-z])\1$/.test(word) && !/(ll|ss|zz)$/.test(word) ? word.slice(0, -1) : word;
}

/** A deliberately small stemmer: plural, -ing, -ed and a final -e. Predictable beats clever here. */
export function stem(input: string): string {
  let word = input.replace(/['’]s$/u, '');
  if (word.length <= 3 || /\d/.test(word)) return word;
  if (word.endsWith('ies') && word.length > 4) word = `${word.slice(0, -3)}y`;
  else if (word.endsWith('sses')) word = word.slice(0, -2);
  else if (/(sh|ch|x|z)es$/.test(word)) word = word.slice(0, -2);
  else if (word.endsWith('s') && !/(ss|us|is)$/.test(word)) word = word.slice(0, -1);
  if (word.endsWith('ing') && word.length > 5 && VOWEL.test(word.slice(0, -3))) word = undouble(word.slice(0, -3));
  else if (word.endsWith('ed') && word.length > 4 && VOWEL.test(word.slice(0, -2))) word = undouble(word.slice(0, -2));
  if (word.endsWith('e') && word.length >= 5) word = word.slice(0, -1);
  return word;
}

export function tokenize(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** One token → its index term, or null for a stop-word. */
export function processTerm(token: string): string | null {
  const word = token.toLowerCase().replace(/’/g, "'");
  if (STOP_WORDS.has(word)) return null;
  const stemmed = stem(word);
  return stemmed.length > 0 && !STOP_WORDS.has(stemmed) ? stemmed : null;
}

/** The distinct index terms of a question. */
export function meaningfulTerms(text: string): string[] {
  const terms = new Set<string>();
  for (const token of tokenize(text)) {
    const term = processTerm(token);
    if (term) terms.add(term);
  }
  return [...terms];
}

/** Longest passage a text source is cut into when a sentence runs on (no punctuation). */
const MAX_PASSAGE_CHARS = 320;

/** Sentences of a text source; a run-on stretch is cut at spaces into passages of at most MAX_PASSAGE_CHARS. */
export function sentences(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/(?<=[.!?])\s+|\n+/u)) {
    let rest = raw.replace(/\s+/g, ' ').trim();
    while (rest.length > MAX_PASSAGE_CHARS) {
      const cut = rest.lastIndexOf(' ', MAX_PASSAGE_CHARS);
      const at = cut > MAX_PASSAGE_CHARS / 2 ? cut : MAX_PASSAGE_CHARS;
      out.push(rest.slice(0, at).trim());
      rest = rest.slice(at).trim();
    }
    if (rest) out.push(rest);
  }
  return out;
}
