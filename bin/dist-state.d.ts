export function sourceState(src: string): { files: number; newest: number } | undefined;
export function pickEntry(root: string): 'dist' | 'src';
