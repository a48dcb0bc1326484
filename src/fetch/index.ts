/** The fetch door: everything that moves bytes from a URL or a directory into the cache. */
export { download, dropPartials, type DownloadOptions } from './download.ts';
export { fetchBytes, type FetchBytesOptions } from './fetch-bytes.ts';
export { cachePath, lookupCached } from './cache.ts';
export { FetchError, ChecksumError, UnreachableError } from './errors.ts';
export { parseLocation, joinLocation, type Location } from './location.ts';
export { mapLimit } from './pool.ts';
export { defaultRetryPolicy, type RetryPolicy } from './backoff.ts';
export { createProgressRenderer, ProgressTracker, formatBytes, formatEta } from './progress.ts';
export { DEFAULT_NET_LIMITS, netLimits, timeoutFrom, deadlineMs, TIMEOUT_ENV, timeoutHelp, TimeoutValueError, type NetLimits } from './limits.ts';
export { TransferWatch, connectTimeouts } from './watch.ts';
export { TransferEndedError, type Bound, type DownloadProgress, type NetOptions, type NetReporter } from './net-types.ts';
export { stderrReporter } from './reporter.ts';
export { httpBuffer, httpStream, type HttpRequest, type HttpResponse, type Method } from './http.ts';
