/** The bearer credential for the Tunnels API, and what messages need to know about where it came from. */
export interface ApiCredential {
  readonly kind: 'api-key' | 'wif';
  /** The `Authorization: Bearer` value. Never logged, never in a message. */
  readonly bearer: string;
  /** API-key mode: `ANTHROPIC_WORKSPACE_ID`, sent as `anthropic-workspace-id`. */
  readonly workspaceId: string | undefined;
  /** WIF mode: the rule the token was minted under, for messages. */
  readonly federationRuleId: string | undefined;
}
