/**
 * The publisher's side of the dir (and oci) target's signature, through the gpg door: find the
 * --gpg-key in the user's keyring (GNUPGHOME from the environment read at the edge), sign detached,
 * export the public key. A key or a gpg that cannot be used refuses the publish (exit 3). The host's
 * side is gpgv against that key pinned by fingerprint (install.sh, prepare-host --from).
 */
import * as gpg from '../../doors/gpg.ts';
import { PublishRefusedError } from '../errors.ts';

const refused = (err: unknown): never => {
  throw err instanceof gpg.GpgKeyError ? new PublishRefusedError(err.message, { cause: err }) : err;
};

export const signingFingerprint = (keyId: string, env: NodeJS.ProcessEnv): Promise<string> => gpg.signingFingerprint(keyId, env).catch(refused);

export const signDetached = (fingerprint: string, file: string, out: string, env: NodeJS.ProcessEnv): Promise<void> => gpg.signDetached(fingerprint, file, out, env).catch(refused);

export const exportPublicKey = (fingerprint: string, env: NodeJS.ProcessEnv): Promise<Buffer> => gpg.exportPublicKey(fingerprint, env).catch(refused);
