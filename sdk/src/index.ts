/**
 * @senderz/sdk: a typed client for the senderz API.
 *
 *   import { Senderz } from '@senderz/sdk';
 *   const senderz = new Senderz({ apiKey: process.env.SENDERZ_API_KEY, baseUrl: 'http://127.0.0.1:3000' });
 *   const { message_id } = await senderz.messages.send({ to: '+15551234567', body: 'Hello' });
 *   for (const event of await senderz.messages.events(message_id)) console.log(event.status);
 */
export { Senderz, SenderzAdmin } from './client';
export type { SenderzOptions, SenderzAdminOptions, ClientOptions, CallArgs, ResultOf, OperationId, Schemas } from './client';
export type { TransportOptions } from './http';
export { SenderzError, SenderzSignatureError } from './errors';
export type { SenderzErrorDetail } from './errors';
export { paginate } from './pagination';
export type { Page } from './pagination';
export { verifySenderzSignature, verifyStandardWebhook, parseWebhookEvent, DEFAULT_TOLERANCE_SECONDS } from './webhooks';
export type { WebhookEvent, RawBody, WebhookHeaders } from './webhooks';
export { OPERATIONS } from './operations';
export type { paths, components, operations } from './schema';

import type { components } from './schema';
type S = components['schemas'];
export type Message = S['Message'];
export type MessageAccepted = S['MessageAccepted'];
export type MessageEvent = S['MessageEvent'];
export type Contact = S['Contact'];
export type ContactImport = S['ContactImport'];
export type Group = S['Group'];
export type Template = S['Template'];
export type Campaign = S['Campaign'];
export type Webhook = S['Webhook'];
export type WebhookDelivery = S['WebhookDelivery'];
export type OptOut = S['OptOut'];
export type ApiKey = S['ApiKey'];
export type Tenant = S['Tenant'];
export type PhoneLine = S['PhoneLine'];
