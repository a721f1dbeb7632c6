import { anthropicDialect } from './anthropic/anthropic-dialect.js';
import type { Dialect } from './dialect.js';
import { openaiDialect } from './openai/openai-dialect.js';

export const dialects: Readonly<Record<Dialect['name'], Dialect>> = { openai: openaiDialect, anthropic: anthropicDialect };
