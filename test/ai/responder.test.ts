import { expect } from 'chai';
import { composeReply } from '../../shared/ai/responder';
import { buildKnowledgeIndex, KnowledgeSource } from '../../shared/ai/retrieval';
import { offlineReply } from '../../shared/ai/offline';
import { stem } from '../../shared/ai/text';
import { SHOP_FAQ } from './helpers';
import { startFakeProvider, FakeProvider } from './fake-provider';

const sources: KnowledgeSource[] = SHOP_FAQ.map((source, index) => ({
  id: `S${index}`,
  type: source.type,
  title: 'title' in source ? source.title : null,
  content: 'content' in source ? source.content : null,
  question: 'question' in source ? source.question : null,
  answer: 'answer' in source ? source.answer : null,
}));
const persona = { business_name: 'Maple & Thread', voice_handoff_number: '+15035550100', instructions: 'Be brief.', tone: 'friendly' };

describe('AI responders', () => {
  describe('offline (BM25 over the tenant\'s sources)', () => {
    const index = buildKnowledgeIndex(sources);
    const ask = (question: string) => offlineReply(index, persona, 'Tenant', question);

    for (const [question, sourceIndex] of [
      ['What time do you open on Saturday?', 0],
      ['what are your hours', 0],
      ['How do I return an item?', 1],
      ['can i get a refund', 1],
      ['How long will shipping take?', 2],
      ['How much is express shiping', 2],
      ['Do you ship to Canada?', 3],
      ['where is my order??', 4],
    ] as const) {
      it(`when asked "${question}", then it answers with the right FAQ`, () => {
        const reply = ask(question);
        expect(reply.kind).to.equal('faq');
        expect(reply.sourceIds).to.deep.equal([`S${sourceIndex}`]);
        expect(reply.reply).to.equal(sources[sourceIndex].answer);
      });
    }

    it('when a question matches a text source, then the best-matching sentence answers, not the whole text', () => {
      const reply = ask('Is there parking near you?');
      expect(reply).to.deep.include({ kind: 'text', sourceIds: ['S5'] });
      expect(reply.reply).to.equal('Parking is free behind the building on Oak Street.');
      expect(ask('Do you sell gift cards?').reply).to.contain('Gift cards are available');
    });

    for (const question of ['Do you sell pizza?', 'What is the weather like tomorrow?', 'hi', 'Can I bring my dog to the store?', '???']) {
      it(`when asked the unrelated "${question}", then it hands off, with the voice number`, () => {
        const reply = ask(question);
        expect(reply.kind).to.equal('handoff');
        expect(reply.sourceIds).to.deep.equal([]);
        expect(reply.reply).to.contain('Maple & Thread').and.contain('+15035550100');
      });
    }

    it('when no voice number is set, then the hand-off promises a reply from the team instead', () => {
      const reply = offlineReply(index, { business_name: null, voice_handoff_number: null }, 'Corner Shop', 'Do you sell pizza?');
      expect(reply.reply).to.match(/^Corner Shop: /).and.contain('team will get back to you');
    });

    it('when the tenant has no sources, then every question hands off', () => {
      expect(offlineReply(buildKnowledgeIndex([]), persona, 'T', 'What are your hours?').kind).to.equal('handoff');
    });

    it('when words differ only by plural or tense, then they stem alike', () => {
      expect(stem('shipping')).to.equal(stem('ships')).and.equal(stem('shipped')).and.equal('ship');
      expect(stem('returns')).to.equal(stem('returned')).and.equal('return');
      expect(stem('policies')).to.equal('policy');
      expect(stem('class')).to.equal('class');
    });
  });

  describe('provider (OpenAI-compatible, with offline fall-back)', () => {
    let provider: FakeProvider;
    before(async () => {
      provider = await startFakeProvider();
    });
    after(async () => {
      await provider.stop();
    });
    beforeEach(() => {
      provider.mode = 'echo';
      provider.requests.length = 0;
    });

    it('when a provider is configured, then it gets the model, the key, the persona and the best sources as context', async () => {
      const composed = await composeReply(
        { persona, tenantName: 'T', sources, provider: { baseUrl: provider.baseUrl, model: 'tiny', apiKey: 'sk-tenant-a' }, message: 'How long does shipping take?' },
        { timeoutMs: 2000, allowPrivateNetworks: true },
      );
      expect(composed).to.deep.include({ responder: 'provider', kind: 'generated' });
      expect(composed.source_ids).to.include('S2');
      expect(composed.reply).to.contain('Standard shipping takes 3-5 business days').and.contain('Be brief.').and.contain('friendly').and.contain('+15035550100');
      expect(provider.requests).to.have.length(1);
      expect(provider.requests[0].authorization).to.equal('Bearer sk-tenant-a');
      expect(provider.requests[0].body.model).to.equal('tiny');
      expect(provider.requests[0].body.messages.at(-1)).to.deep.equal({ role: 'user', content: 'How long does shipping take?' });
    });

    it('when the provider does not answer in time, then the offline responder answers and the timeout is reported', async () => {
      provider.mode = 'hang';
      const started = Date.now();
      const composed = await composeReply(
        { persona, tenantName: 'T', sources, provider: { baseUrl: provider.baseUrl, model: 'tiny', apiKey: null }, message: 'What are your opening hours?' },
        { timeoutMs: 300, allowPrivateNetworks: true },
      );
      expect(Date.now() - started).to.be.below(2000);
      expect(composed).to.deep.include({ responder: 'offline', kind: 'faq', provider_error: 'timeout' });
      expect(composed.reply).to.equal(sources[0].answer);
    });

    it('when the provider fails, then the offline responder answers and the HTTP status is reported', async () => {
      provider.mode = 'error';
      const composed = await composeReply(
        { persona, tenantName: 'T', sources, provider: { baseUrl: provider.baseUrl, model: 'tiny', apiKey: null }, message: 'Do you sell pizza?' },
        { timeoutMs: 2000, allowPrivateNetworks: true },
      );
      expect(composed).to.deep.include({ responder: 'offline', kind: 'handoff', provider_error: 'http_500' });
    });

    it('when the provider is on a loopback address and private networks are not allowed, then it is never called', async () => {
      const composed = await composeReply(
        { persona, tenantName: 'T', sources, provider: { baseUrl: provider.baseUrl, model: 'tiny', apiKey: 'sk' }, message: 'What are your hours?' },
        { timeoutMs: 2000, allowPrivateNetworks: false },
      );
      expect(composed).to.deep.include({ responder: 'offline', provider_error: 'blocked_address' });
      expect(provider.requests).to.have.length(0);
      const byName = await composeReply(
        { persona, tenantName: 'T', sources, provider: { baseUrl: provider.baseUrl.replace('127.0.0.1', 'localhost'), model: 'tiny', apiKey: 'sk' }, message: 'hours?' },
        { timeoutMs: 2000, allowPrivateNetworks: false },
      );
      expect(byName.provider_error).to.equal('blocked_address');
      expect(provider.requests).to.have.length(0);
    });
  });
});
