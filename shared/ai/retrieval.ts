import MiniSearch from 'minisearch';
import { meaningfulTerms, processTerm, sentences, tokenize } from './text';

/** One training source as stored (shared/data/ai-sources.ts), already scoped to one tenant. */
export interface KnowledgeSource {
  id: string;
  type: 'text' | 'faq';
  title: string | null;
  content: string | null;
  question: string | null;
  answer: string | null;
}

/** What is indexed: a whole FAQ entry, or one sentence of a text source. */
export interface Passage {
  id: string;
  sourceId: string;
  type: 'text' | 'faq';
  /** Sentence number within its text source (0 for an FAQ). */
  position: number;
  question?: string;
  answer?: string;
  title?: string;
  text?: string;
}

export interface RetrievedPassage {
  passage: Passage;
  score: number;
  /** Share of the question's meaningful words found in this passage (0..1). */
  coverage: number;
}

/**
 * A BM25 index over ONE tenant's sources. It is built from the rows the
 * caller loaded inside that tenant's scope and lives only as long as the
 * reply being composed: no index is shared or cached across tenants.
 */
export interface KnowledgeIndex {
  passages: Map<string, Passage>;
  search: MiniSearch<Passage>;
  size: number;
}

const FIELDS = ['question', 'answer', 'title', 'text'];

/** An FAQ's question says what it answers; a text source's title says what it is about. */
const BOOST = { question: 3, title: 1.5, answer: 1, text: 1 };

export function buildKnowledgeIndex(sources: KnowledgeSource[]): KnowledgeIndex {
  const passages = new Map<string, Passage>();
  for (const source of sources) {
    if (source.type === 'faq') {
      passages.set(source.id, { id: source.id, sourceId: source.id, type: 'faq', position: 0, question: source.question ?? '', answer: source.answer ?? '' });
    } else {
      sentences(source.content ?? '').forEach((sentence, position) => {
        const id = `${source.id}:${position}`;
        passages.set(id, { id, sourceId: source.id, type: 'text', position, title: source.title ?? '', text: sentence });
      });
    }
  }
  const search = new MiniSearch<Passage>({
    fields: FIELDS,
    storeFields: [],
    tokenize,
    processTerm,
    searchOptions: { tokenize, processTerm },
  });
  search.addAll([...passages.values()]);
  return { passages, search, size: passages.size };
}

/**
 * The best passages for a question, by BM25 score. Typos in longer words
 * (six letters or more) are forgiven by one edit; short words must match.
 */
export function retrieve(index: KnowledgeIndex, question: string, limit = 5): RetrievedPassage[] {
  const terms = meaningfulTerms(question);
  if (terms.length === 0 || index.size === 0) return [];
  // The question goes in raw: MiniSearch runs the same tokenize/processTerm on it once.
  const results = index.search.search(question, {
    boost: BOOST,
    combineWith: 'OR',
    prefix: false,
    fuzzy: (term) => (term.length >= 6 ? 1 : false),
  });
  return results.slice(0, limit).map((result) => ({
    passage: index.passages.get(String(result.id))!,
    score: result.score,
    coverage: new Set(result.queryTerms).size / terms.length,
  }));
}
