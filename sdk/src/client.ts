import type { components, operations } from './schema';
import { OPERATIONS } from './operations';
import { fromEnv, Transport, TransportOptions } from './http';
import { paginate, Page } from './pagination';
import { SenderzError } from './errors';

export type Schemas = components['schemas'];
export type OperationId = keyof typeof OPERATIONS & keyof operations;

type Parameters_<K extends OperationId> = operations[K]['parameters'];
type PathParams<K extends OperationId> = NonNullable<Parameters_<K>['path']>;
type QueryParams<K extends OperationId> = NonNullable<Parameters_<K>['query']>;
type RequestBodyOf<K extends OperationId> = operations[K] extends { requestBody?: infer R } ? NonNullable<R> : never;
type JsonBody<K extends OperationId> = [RequestBodyOf<K>] extends [never] ? never : RequestBodyOf<K> extends { content: { 'application/json': infer B } } ? B : never;
type Responses<K extends OperationId> = operations[K]['responses'];
type Success<K extends OperationId> = Responses<K>[Extract<keyof Responses<K>, 200 | 201 | 202>];

/** What a successful call answers: the JSON envelope, or the text of a CSV. */
export type ResultOf<K extends OperationId> = Success<K> extends { content: infer C } ? (C extends { 'application/json': infer J } ? J : C extends { 'text/csv': infer T } ? T : C extends { 'text/plain': infer P } ? P : never) : never;

/** Arguments of a call, typed from the OpenAPI document. */
export type CallArgs<K extends OperationId> = ([PathParams<K>] extends [never] ? { params?: undefined } : { params: PathParams<K> }) & {
  query?: [QueryParams<K>] extends [never] ? undefined : QueryParams<K>;
  body?: JsonBody<K>;
  /** A CSV upload instead of a JSON body. */
  csv?: string;
  /** POSTs carry one by default (generated, reused across retries); pass your own to make a retry of yours safe too. */
  idempotencyKey?: string;
  signal?: AbortSignal;
};

type Item<K extends OperationId> = ResultOf<K> extends Page<infer T> ? T : never;
type Data<K extends OperationId> = ResultOf<K> extends { data: infer D } ? D : never;
type ListQuery<K extends OperationId> = Omit<QueryParams<K>, 'cursor'>;

export interface ClientOptions extends TransportOptions {
  /** Generate an Idempotency-Key for every POST that has none (default true). */
  autoIdempotency?: boolean;
}

function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/** The typed core shared by the tenant and operator clients. */
class BaseClient {
  protected readonly transport: Transport;
  private readonly autoIdempotency: boolean;

  constructor(authorization: string, options: ClientOptions) {
    this.transport = new Transport(authorization, options);
    this.autoIdempotency = options.autoIdempotency ?? true;
  }

  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /** Calls any operation of the reference by its operationId, e.g. `request('getMessage', { params: { id } })`. */
  async request<K extends OperationId>(operationId: K, args: CallArgs<K> = {} as CallArgs<K>): Promise<ResultOf<K>> {
    const [method, template] = OPERATIONS[operationId];
    const params = (args.params ?? {}) as Record<string, string | number>;
    const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
      if (params[name] === undefined) throw new TypeError(`${operationId}: path parameter "${name}" is required`);
      return encodeURIComponent(String(params[name]));
    });
    const idempotencyKey = method === 'POST' ? (args.idempotencyKey ?? (this.autoIdempotency ? newIdempotencyKey() : undefined)) : undefined;
    const response = await this.transport.request({
      method,
      path,
      query: args.query as Record<string, unknown> | undefined,
      body: args.body,
      text: args.csv !== undefined ? { contentType: 'text/csv', data: args.csv } : undefined,
      idempotencyKey,
      signal: args.signal,
    });
    return response.body as ResultOf<K>;
  }

  protected async data<K extends OperationId>(operationId: K, args?: CallArgs<K>): Promise<Data<K>> {
    return ((await this.request(operationId, args)) as { data: Data<K> }).data;
  }

  protected iterate<K extends OperationId>(operationId: K, query: ListQuery<K> | undefined, args: Omit<CallArgs<K>, 'query'> = {} as CallArgs<K>): AsyncGenerator<Item<K>, void, undefined> {
    return paginate((cursor) => this.request(operationId, { ...args, query: { ...(query ?? {}), ...(cursor ? { cursor } : {}) } } as CallArgs<K>) as Promise<Page<Item<K>>>);
  }
}

/** Options for `new Senderz(…)`. */
export interface SenderzOptions extends ClientOptions {
  /** `tf_live_…` or `tf_test_…` (or a portal user's JWT); default `$SENDERZ_API_KEY`. */
  apiKey?: string;
}

type Q<K extends OperationId> = ListQuery<K>;
type B<K extends OperationId> = JsonBody<K>;
type Send = { idempotencyKey?: string; signal?: AbortSignal };

/**
 * The tenant API: `new Senderz({ apiKey, baseUrl })`. Every method is typed
 * from the OpenAPI document; lists come as a page (`list`) or as every item
 * (`iterate`, an async iterator that follows `next_cursor`).
 */
export class Senderz extends BaseClient {
  constructor(options: SenderzOptions = {}) {
    const apiKey = options.apiKey ?? fromEnv('SENDERZ_API_KEY');
    if (!apiKey) throw new TypeError('An API key is required: new Senderz({ apiKey }) or SENDERZ_API_KEY.');
    super(`Bearer ${apiKey}`, options);
  }

  readonly messages = {
    /** Enqueues a message (202). Sandbox keys: `dispatchWebhook` fires webhooks for it. */
    send: (body: Schemas['SendMessageRequest'], options: Send & { dispatchWebhook?: boolean } = {}) =>
      this.data('sendMessage', { body, query: options.dispatchWebhook ? { dispatch_webhook: true } : undefined, idempotencyKey: options.idempotencyKey, signal: options.signal }),
    get: (id: string) => this.data('getMessage', { params: { id } }),
    /** Cancels a scheduled send (`send_at`) while it is still scheduled; 409 once released. */
    cancel: (id: string) => this.data('cancelMessage', { params: { id } }),
    list: (query?: Q<'listMessages'>) => this.request('listMessages', { query }),
    iterate: (query?: Q<'listMessages'>) => this.iterate('listMessages', query),
    events: (id: string) => this.data('listMessageEvents', { params: { id } }),
    /** The message's status callbacks (`status_callback`), each with its attempts and the receiver's last answer. */
    callbacks: (id: string) => this.data('listStatusCallbacks', { params: { id } }),
    /** One stored attachment's bytes (`message.media[i].id`); its type is `message.media[i].content_type`. */
    media: async (id: string, mediaId: string): Promise<Uint8Array> => (await this.request('getMessageMedia', { params: { id, mediaId } })) as unknown as Uint8Array,
  };

  readonly capabilities = {
    get: (number: string) => this.data('getCapabilities', { params: { number } }),
    check: (numbers: string[]) => this.data('checkCapabilities', { body: { numbers } }),
  };

  readonly apiKeys = {
    create: (body: B<'createApiKey'>, options: Send = {}) => this.data('createApiKey', { body, ...options }),
    get: (id: string) => this.data('getApiKey', { params: { id } }),
    list: (query?: Q<'listApiKeys'>) => this.request('listApiKeys', { query }),
    iterate: (query?: Q<'listApiKeys'>) => this.iterate('listApiKeys', query),
    revoke: (id: string) => this.data('revokeApiKey', { params: { id } }),
  };

  readonly contacts = {
    create: (body: B<'createContact'>, options: Send = {}) => this.data('createContact', { body, ...options }),
    get: (id: string) => this.data('getContact', { params: { id } }),
    update: (id: string, body: B<'updateContact'>) => this.data('updateContact', { params: { id }, body }),
    delete: (id: string) => this.data('deleteContact', { params: { id } }),
    list: (query?: Q<'listContacts'>) => this.request('listContacts', { query }),
    iterate: (query?: Q<'listContacts'>) => this.iterate('listContacts', query),
    /** Rows as JSON objects, or a CSV document (header row `phone_number,name,email,…`). Runs as a job: see `waitForImport`. */
    import: (rows: Schemas['ImportContactsRequest'] | Schemas['ImportContactsRequest']['contacts'] | string, options: Send & { updateExisting?: boolean; groupId?: string } = {}) => {
      if (typeof rows === 'string') {
        return this.data('importContacts', { csv: rows, query: { update_existing: options.updateExisting, group_id: options.groupId }, idempotencyKey: options.idempotencyKey });
      }
      const body = Array.isArray(rows) ? { contacts: rows, update_existing: options.updateExisting, group_id: options.groupId } : rows;
      return this.data('importContacts', { body, idempotencyKey: options.idempotencyKey });
    },
    getImport: (id: string) => this.data('getContactImport', { params: { id } }),
    listImports: (query?: Q<'listContactImports'>) => this.request('listContactImports', { query }),
    /** Polls an import until it completes; `onProgress` sees every poll. */
    waitForImport: async (id: string, options: { intervalMs?: number; timeoutMs?: number; onProgress?: (state: Schemas['ContactImport']) => void } = {}) => {
      const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
      for (;;) {
        const state = await this.data('getContactImport', { params: { id } });
        options.onProgress?.(state);
        if (state.status === 'completed') return state;
        if (Date.now() > deadline) throw new SenderzError({ message: `Import ${id} did not complete in time.`, status: 0, code: 'TIMEOUT' });
        await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
      }
    },
  };

  readonly groups = {
    create: (body: B<'createGroup'>, options: Send = {}) => this.data('createGroup', { body, ...options }),
    get: (id: string) => this.data('getGroup', { params: { id } }),
    update: (id: string, body: B<'updateGroup'>) => this.data('updateGroup', { params: { id }, body }),
    delete: (id: string) => this.data('deleteGroup', { params: { id } }),
    list: (query?: Q<'listGroups'>) => this.request('listGroups', { query }),
    iterate: (query?: Q<'listGroups'>) => this.iterate('listGroups', query),
    members: (id: string, query?: Q<'listGroupMembers'>) => this.iterate('listGroupMembers', query, { params: { id } }),
    addMembers: (id: string, contactIds: string[]) => this.data('addGroupMembers', { params: { id }, body: { contact_ids: contactIds } }),
    removeMembers: (id: string, contactIds: string[]) => this.data('removeGroupMembers', { params: { id }, body: { contact_ids: contactIds } }),
  };

  readonly templates = {
    create: (body: B<'createTemplate'>, options: Send = {}) => this.data('createTemplate', { body, ...options }),
    get: (id: string) => this.data('getTemplate', { params: { id } }),
    update: (id: string, body: B<'updateTemplate'>) => this.data('updateTemplate', { params: { id }, body }),
    delete: (id: string) => this.data('deleteTemplate', { params: { id } }),
    list: (query?: Q<'listTemplates'>) => this.request('listTemplates', { query }),
    iterate: (query?: Q<'listTemplates'>) => this.iterate('listTemplates', query),
  };

  readonly campaigns = {
    create: (body: B<'createCampaign'>, options: Send = {}) => this.data('createCampaign', { body, ...options }),
    get: (id: string) => this.data('getCampaign', { params: { id } }),
    list: (query?: Q<'listCampaigns'>) => this.request('listCampaigns', { query }),
    iterate: (query?: Q<'listCampaigns'>) => this.iterate('listCampaigns', query),
    pause: (id: string) => this.data('pauseCampaign', { params: { id } }),
    resume: (id: string) => this.data('resumeCampaign', { params: { id } }),
    cancel: (id: string) => this.data('cancelCampaign', { params: { id } }),
  };

  readonly webhooks = {
    /** The signing secret is in the answer, once. */
    create: (body: B<'createWebhook'>, options: Send = {}) => this.data('createWebhook', { body, ...options }),
    get: (id: string) => this.data('getWebhook', { params: { id } }),
    update: (id: string, body: B<'updateWebhook'>) => this.data('updateWebhook', { params: { id }, body }),
    delete: (id: string) => this.data('deleteWebhook', { params: { id } }),
    list: (query?: Q<'listWebhooks'>) => this.request('listWebhooks', { query }),
    iterate: (query?: Q<'listWebhooks'>) => this.iterate('listWebhooks', query),
    rotateSecret: (id: string, body: B<'rotateWebhookSecret'> = {}) => this.data('rotateWebhookSecret', { params: { id }, body }),
    test: (id: string) => this.data('testWebhook', { params: { id } }),
    deliveries: (id: string, query?: Q<'listWebhookDeliveries'>) => this.iterate('listWebhookDeliveries', query, { params: { id } }),
    retryDelivery: (id: string, deliveryId: string) => this.data('retryWebhookDelivery', { params: { id, deliveryId } }),
    /** The secret that signs every message's `status_callback` POSTs (verify them like webhooks). */
    statusCallbackSecret: () => this.data('getStatusCallbackSecret', {}),
    /** Makes or rotates that secret; the previous one keeps signing during the overlap. */
    rotateStatusCallbackSecret: (body: B<'rotateStatusCallbackSecret'> = {}) => this.data('rotateStatusCallbackSecret', { body }),
  };

  readonly optOuts = {
    create: (body: B<'createOptOut'>) => this.data('createOptOut', { body }),
    get: (phone: string) => this.data('getOptOut', { params: { phone } }),
    /** Opts the number back in (the record is kept). */
    remove: (phone: string) => this.data('deleteOptOut', { params: { phone } }),
    list: (query?: Q<'listOptOuts'>) => this.request('listOptOuts', { query }),
    iterate: (query?: Q<'listOptOuts'>) => this.iterate('listOptOuts', query),
  };

  readonly consent = {
    record: (body: B<'recordConsent'>) => this.data('recordConsent', { body }),
    get: (id: string) => this.data('getConsent', { params: { id } }),
    list: (query?: Q<'listConsent'>) => this.request('listConsent', { query }),
    iterate: (query?: Q<'listConsent'>) => this.iterate('listConsent', query),
    /** The ledger as CSV text. */
    export: (query?: Q<'exportConsent'>) => this.request('exportConsent', { query }),
  };

  readonly billing = {
    usage: () => this.data('getUsage'),
    usageRecords: (query?: Q<'listUsageRecords'>) => this.iterate('listUsageRecords', query),
    events: (query?: Q<'listBillingEvents'>) => this.iterate('listBillingEvents', query),
  };

  readonly ai = {
    getPersona: () => this.data('getPersona'),
    putPersona: (body: B<'putPersona'>) => this.data('putPersona', { body }),
    preview: (message: string) => this.data('previewReply', { body: { message } }),
    addSource: (body: B<'createAiSource'>) => this.data('createAiSource', { body }),
    getSource: (id: string) => this.data('getAiSource', { params: { id } }),
    deleteSource: (id: string) => this.data('deleteAiSource', { params: { id } }),
    sources: (query?: Q<'listAiSources'>) => this.iterate('listAiSources', query),
  };

  readonly subaccounts = {
    create: (body: B<'createSubaccount'>) => this.data('createSubaccount', { body }),
    get: (id: string) => this.data('getSubaccount', { params: { id } }),
    update: (id: string, body: B<'updateSubaccount'>) => this.data('updateSubaccount', { params: { id }, body }),
    list: (query?: Q<'listSubaccounts'>) => this.request('listSubaccounts', { query }),
    iterate: (query?: Q<'listSubaccounts'>) => this.iterate('listSubaccounts', query),
    suspend: (id: string) => this.data('suspendSubaccount', { params: { id } }),
    reactivate: (id: string) => this.data('reactivateSubaccount', { params: { id } }),
    createApiKey: (id: string, body: B<'createSubaccountApiKey'>) => this.data('createSubaccountApiKey', { params: { id }, body }),
    revokeApiKey: (id: string, keyId: string) => this.data('revokeSubaccountApiKey', { params: { id, keyId } }),
    analytics: (query?: Q<'getSubaccountAnalytics'>) => this.data('getSubaccountAnalytics', { query }),
  };
}

/** Options for `new SenderzAdmin(…)`. */
export interface SenderzAdminOptions extends ClientOptions {
  /** The operator's ADMIN_API_KEY; default `$SENDERZ_ADMIN_KEY`. */
  adminKey?: string;
}

/** The operator API (`/admin`). The operator API takes no Idempotency-Key: its POSTs are not repeated on 5xx. */
export class SenderzAdmin extends BaseClient {
  constructor(options: SenderzAdminOptions = {}) {
    const adminKey = options.adminKey ?? fromEnv('SENDERZ_ADMIN_KEY');
    if (!adminKey) throw new TypeError('An admin key is required: new SenderzAdmin({ adminKey }) or SENDERZ_ADMIN_KEY.');
    super(`Bearer ${adminKey}`, { autoIdempotency: false, ...options });
  }

  readonly tenants = {
    create: (body: B<'adminCreateTenant'>) => this.data('adminCreateTenant', { body }),
    get: (id: string) => this.data('adminGetTenant', { params: { id } }),
    update: (id: string, body: B<'adminUpdateTenant'>) => this.data('adminUpdateTenant', { params: { id }, body }),
    list: (query?: Q<'adminListTenants'>) => this.request('adminListTenants', { query }),
    iterate: (query?: Q<'adminListTenants'>) => this.iterate('adminListTenants', query),
  };

  readonly apiKeys = {
    create: (body: B<'adminCreateApiKey'>) => this.data('adminCreateApiKey', { body }),
  };

  readonly phoneLines = {
    create: (body: B<'adminCreatePhoneLine'>) => this.data('adminCreatePhoneLine', { body }),
    get: (id: string) => this.data('adminGetPhoneLine', { params: { id } }),
    update: (id: string, body: B<'adminUpdatePhoneLine'>) => this.data('adminUpdatePhoneLine', { params: { id }, body }),
    delete: (id: string) => this.data('adminDeletePhoneLine', { params: { id } }),
    list: (query?: Q<'adminListPhoneLines'>) => this.request('adminListPhoneLines', { query }),
    iterate: (query?: Q<'adminListPhoneLines'>) => this.iterate('adminListPhoneLines', query),
  };

  readonly agencyLinks = {
    create: (body: B<'adminCreateAgencyLink'>) => this.data('adminCreateAgencyLink', { body }),
  };

  /** The web process's Prometheus series, as text (README "Metrics and traces"). */
  metrics(): Promise<string> {
    return this.request('getMetrics');
  }
}
