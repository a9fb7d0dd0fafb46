// The shapes the simulator's modules share and its callers see: lines, sends, injected events,
// and the error a control helper throws on bad input.

export type Channel = 'imessage' | 'rcs' | 'sms';
export const CHANNELS: readonly Channel[] = ['imessage', 'rcs', 'sms'];

export interface LineRegistration {
  line_id: string;
  phone_number: string;
  secret: string;
  offline?: boolean;
}

export interface LineUpdate {
  phone_number?: string;
  secret?: string;
  offline?: boolean;
}

export interface LineSummary {
  line_id: string;
  phone_number: string;
  offline: boolean;
  pending_events: number;
  heartbeats: number;
}

/** One attachment of a push (docs/device-protocol.md, Media). */
export interface SendMedia {
  url: string;
  content_type: string;
  size: number;
  filename?: string;
}

/** An attachment as the simulator took it: what the push said, and what its download gave. */
export interface ReceivedMedia extends SendMedia {
  downloaded_size: number;
  sha256: string;
}

export interface SendRecord {
  dispatch_id: string;
  message_id: string;
  line_id: string;
  from: string;
  to: string;
  body: string;
  channel: Channel;
  received_at: string;
  /** How many signed, well-formed `/v1/send` requests carried this dispatch_id (including refused ones). */
  attempts: number;
  /** Event types reported so far for this dispatch, in order. */
  reported: string[];
  /** The attachments, downloaded before the push was accepted; absent for text. */
  media?: ReceivedMedia[];
}

/** The fields of a well-formed `/v1/send` body. */
export type SendRequest = Omit<SendRecord, 'received_at' | 'attempts' | 'reported' | 'media'> & { media?: SendMedia[] };

export interface InboundInput {
  line_id: string;
  from: string;
  /** May be empty (or left out) when `media` is given. */
  body?: string;
  channel?: Channel;
  /** Attachments: URLs, or `{url, content_type?, size?, filename?}`; forwarded as the event's `media`. */
  media?: (string | InboundMediaInput)[];
}

/** An inbound attachment as the bridge announces it on a `received` event. */
export interface InboundMediaInput {
  url: string;
  content_type?: string;
  size?: number;
  filename?: string;
}

/** An event to emit as-is; `id` and `occurred_at` are filled in when absent. */
export type RawEventInput = { type: string; id?: string; occurred_at?: string; [field: string]: unknown };

/** A refusal of bad input to a control helper; the HTTP control endpoints answer with `status`. */
export interface SimulatorInputError extends Error {
  status: number;
  code: string;
}

export function isSimulatorInputError(err: unknown): err is SimulatorInputError {
  return err instanceof Error && typeof (err as Partial<SimulatorInputError>).status === 'number';
}

export function inputError(status: number, code: string, message: string): SimulatorInputError {
  return Object.assign(new Error(message), { status, code });
}
