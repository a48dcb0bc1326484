/** map / unmap / export: qemu-nbd and loop devices, partitions, LVM, mounts, the journal. */
export { type MapRequest, type ResolvedMap, type MapMode, resolveMap, parseOffset, MapRequestError, DEFAULT_STATE_DIR } from './request.ts';
export { planMap, NBD_MISSING } from './plan-map.ts';
export { planUnmap, type UnmapTarget } from './plan-unmap.ts';
export { planExport, resolveExport, type ExportRequest, type ResolvedExport } from './plan-export.ts';
export { parseJournal, mapState, renderMounts, describeUndo, type MapState, type Filesystem } from './journal.ts';
export { runMap, runUnmap, runExport, exportLines, type MapOutcome } from './run.ts';
