/** userinfo in any URL of a text (`https://user:secret@host/`) becomes `***@`: never print a password. */
export function redact(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\/\s@]*@/gi, '$1***@');
}
