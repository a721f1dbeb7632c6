import type { DialectName, UpstreamTraits } from './dialect.js';

/**
 * What each dialect's servers can be sent, apart from its codecs: the pure router reads this table
 * alone, so that loading it loads no codec (R50: it pulled in 48 files through the dialects). Each
 * dialect's `upstream` is its entry here.
 */
export const dialectTraits: Readonly<Record<DialectName, UpstreamTraits>> = {
  openai: { systemPromptApart: false, trailingAssistantIsPrefill: false, signedThinking: false, jsonMode: true, closesEveryObject: false, pdfsByDefault: false, budgetFieldVaries: true, countsTokens: false },
  anthropic: { systemPromptApart: true, trailingAssistantIsPrefill: true, signedThinking: true, jsonMode: false, closesEveryObject: true, pdfsByDefault: true, budgetFieldVaries: false, countsTokens: true },
};
