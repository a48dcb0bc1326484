/** One verification check's outcome: what the checks of verify/ return and a manifest records. */
export interface Check {
  name: string; // 'vermagic' | 'crcs' | 'oracle' | ...
  ok: boolean;
  detail: string;
}
