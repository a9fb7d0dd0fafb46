import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/**
 * Where a recipient probably is, from the number alone: the IANA time zones a
 * number may ring in. North American numbers (+1) are resolved by area code
 * (an area code that spans zones lists every zone it touches); other numbers
 * by country, from the table below or, for countries not in it, from the
 * time-zone data that ships with Node (ICU). Mobile numbers can travel: this
 * is the number's home region, which is what carriers and the TCPA use.
 */

const ET = 'America/New_York';
const CT = 'America/Chicago';
const MT = 'America/Denver';
const AZ = 'America/Phoenix';
const PT = 'America/Los_Angeles';
const AK = 'America/Anchorage';
const HT = 'Pacific/Honolulu';
const TORONTO = 'America/Toronto';
const WINNIPEG = 'America/Winnipeg';
const REGINA = 'America/Regina';
const EDMONTON = 'America/Edmonton';
const VANCOUVER = 'America/Vancouver';
const HALIFAX = 'America/Halifax';
const ST_JOHNS = 'America/St_Johns';

/**
 * NANP area codes (US, Canada, US territories) → zones. One entry per group
 * of codes with the same zones; codes are NANPA geographic codes in service
 * or announced as of 2025. Non-geographic codes (toll-free 8XX, 5XX, 600…)
 * are absent on purpose.
 */
const NANP_GROUPS: [string[], string][] = [
  // Eastern only: CT DC DE FL GA IN KY ME MD MA MI NH NJ NY NC OH PA RI SC TN VT VA WV
  [
    [ET],
    '203 475 860 959 202 771 302 239 305 321 324 352 386 407 561 645 656 689 727 728 754 772 786 813 863 904 941 954 ' +
      '229 404 470 478 678 706 762 770 912 943 260 317 463 574 765 502 606 859 207 227 240 301 410 443 667 ' +
      '339 351 413 508 617 774 781 857 978 231 248 269 313 517 586 616 679 734 810 947 989 603 ' +
      '201 551 609 640 732 848 856 862 908 973 212 315 329 332 347 363 516 518 585 607 624 631 646 680 716 718 838 845 914 917 929 934 ' +
      '252 336 472 704 743 828 910 919 980 984 216 220 234 283 326 330 380 419 436 440 513 567 614 740 937 ' +
      '215 223 267 272 412 445 484 570 582 610 717 724 814 835 878 401 803 839 843 854 864 423 865 802 ' +
      '276 434 540 571 686 703 757 804 826 948 304 681',
  ],
  // Central only: AL AR IL IN(NW) IA KS(east) LA MN MS MO NE(east) OK TN(middle/west) TX WI
  [
    [CT],
    '205 251 256 334 659 938 327 479 501 870 217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 861 872 219 ' +
      '319 515 563 641 712 316 913 225 318 337 504 985 218 320 507 612 651 763 924 952 228 601 662 769 ' +
      '314 417 557 573 636 660 816 975 402 531 405 539 572 580 918 615 629 731 901 ' +
      '210 214 254 281 325 346 361 409 430 469 512 682 713 726 737 806 817 830 832 903 936 940 945 956 972 979 ' +
      '262 274 353 414 534 608 715 920',
  ],
  // Florida panhandle, southern Indiana, Michigan's Upper Peninsula, western Kentucky, middle Tennessee.
  [[ET, CT], '850 448 812 930 906 270 364 931'],
  // Western Nebraska, the Dakotas, western Kansas, far-west Texas outside El Paso.
  [[CT, MT], '308 605 701 620 785 432'],
  [[MT], '303 719 720 970 983 406 505 575 385 435 801 307 915'],
  // Idaho's panhandle, eastern Oregon (Malheur County), Nevada's West Wendover.
  [[MT, PT], '208 986 541 458 775'],
  [[AZ], '480 520 602 623'],
  // Northern Arizona: the Navajo Nation keeps daylight saving time, the rest of the state does not.
  [[AZ, MT], '928'],
  [
    [PT],
    '209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707 714 738 747 760 ' +
      '805 818 820 831 837 840 858 909 916 925 949 951 206 253 360 425 509 564 702 725 503 971',
  ],
  [[AK, 'America/Adak'], '907'],
  [[HT], '808'],
  [['America/Puerto_Rico'], '787 939'],
  [['America/St_Thomas'], '340'],
  [['Pacific/Guam'], '671'],
  [['Pacific/Saipan'], '670'],
  [['Pacific/Pago_Pago'], '684'],
  // Canada.
  [[EDMONTON], '368 403 587 780 825'],
  [[VANCOUVER], '604'],
  // Province-wide BC codes reach the Mountain-time east (Kootenays, Peace River).
  [[VANCOUVER, EDMONTON, 'America/Dawson_Creek'], '236 250 257 672 778'],
  [[WINNIPEG], '204 431 584'],
  [['America/Moncton'], '428 506'],
  [[ST_JOHNS, 'America/Goose_Bay'], '709 879'],
  [[HALIFAX], '782 902'],
  [[TORONTO], '226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 905 942 263 354 438 450 468 514 579 819 873'],
  // North-western Ontario (Kenora is Central).
  [[TORONTO, WINNIPEG], '807'],
  // Eastern Quebec: the Magdalen Islands and the Lower North Shore keep Atlantic time.
  [[TORONTO, HALIFAX], '367 418 581'],
  // Saskatchewan (no DST), with Lloydminster on Alberta time.
  [[REGINA, EDMONTON], '306 474 639'],
  [[ 'America/Whitehorse', EDMONTON, 'America/Iqaluit', 'America/Rankin_Inlet'], '867'],
];

export const NANP_AREA_CODE_ZONES: ReadonlyMap<string, readonly string[]> = (() => {
  const map = new Map<string, string[]>();
  for (const [zones, codes] of NANP_GROUPS) {
    for (const code of codes.split(/\s+/)) {
      if (map.has(code)) throw new Error(`area code ${code} is listed twice`);
      map.set(code, zones);
    }
  }
  return map;
})();

/**
 * Countries we expect most traffic to (outside +1), with the zones people
 * actually live in. Countries not listed fall back to ICU's list for the region.
 */
export const COUNTRY_ZONES: Readonly<Record<string, readonly string[]>> = {
  US: [ET, CT, MT, AZ, PT, AK, HT],
  CA: [ST_JOHNS, HALIFAX, TORONTO, WINNIPEG, REGINA, EDMONTON, VANCOUVER],
  GB: ['Europe/London'],
  GG: ['Europe/London'],
  JE: ['Europe/London'],
  IM: ['Europe/London'],
  IE: ['Europe/Dublin'],
  FR: ['Europe/Paris'],
  DE: ['Europe/Berlin'],
  IT: ['Europe/Rome'],
  ES: ['Europe/Madrid', 'Atlantic/Canary'],
  PT: ['Europe/Lisbon', 'Atlantic/Azores'],
  NL: ['Europe/Amsterdam'],
  BE: ['Europe/Brussels'],
  LU: ['Europe/Luxembourg'],
  CH: ['Europe/Zurich'],
  AT: ['Europe/Vienna'],
  DK: ['Europe/Copenhagen'],
  SE: ['Europe/Stockholm'],
  NO: ['Europe/Oslo'],
  FI: ['Europe/Helsinki'],
  PL: ['Europe/Warsaw'],
  CZ: ['Europe/Prague'],
  HU: ['Europe/Budapest'],
  RO: ['Europe/Bucharest'],
  GR: ['Europe/Athens'],
  UA: ['Europe/Kiev'],
  TR: ['Europe/Istanbul'],
  IL: ['Asia/Jerusalem'],
  AE: ['Asia/Dubai'],
  SA: ['Asia/Riyadh'],
  EG: ['Africa/Cairo'],
  ZA: ['Africa/Johannesburg'],
  NG: ['Africa/Lagos'],
  KE: ['Africa/Nairobi'],
  IN: ['Asia/Kolkata'],
  PK: ['Asia/Karachi'],
  BD: ['Asia/Dhaka'],
  SG: ['Asia/Singapore'],
  MY: ['Asia/Kuala_Lumpur'],
  HK: ['Asia/Hong_Kong'],
  CN: ['Asia/Shanghai'],
  TW: ['Asia/Taipei'],
  JP: ['Asia/Tokyo'],
  KR: ['Asia/Seoul'],
  PH: ['Asia/Manila'],
  TH: ['Asia/Bangkok'],
  VN: ['Asia/Ho_Chi_Minh'],
  ID: ['Asia/Jakarta', 'Asia/Makassar', 'Asia/Jayapura'],
  AU: ['Australia/Perth', 'Australia/Darwin', 'Australia/Adelaide', 'Australia/Brisbane', 'Australia/Sydney'],
  NZ: ['Pacific/Auckland'],
  MX: ['America/Mexico_City', 'America/Cancun', 'America/Chihuahua', 'America/Hermosillo', 'America/Mazatlan', 'America/Tijuana'],
  BR: ['America/Noronha', 'America/Sao_Paulo', 'America/Manaus', 'America/Rio_Branco'],
  AR: ['America/Argentina/Buenos_Aires'],
  CL: ['America/Santiago', 'Pacific/Easter'],
  CO: ['America/Bogota'],
  PE: ['America/Lima'],
};

type LocaleWithZones = Intl.Locale & { timeZones?: string[]; getTimeZones?: () => string[] };

/** ICU's zones for a region (Node 20 exposes `timeZones`, later versions `getTimeZones()`). */
function icuZones(country: string): string[] {
  try {
    const locale = new Intl.Locale(`und-${country}`) as LocaleWithZones;
    return locale.getTimeZones?.() ?? locale.timeZones ?? [];
  } catch {
    return [];
  }
}

export function countryZones(country: string): readonly string[] {
  return COUNTRY_ZONES[country] ?? icuZones(country);
}

export interface RecipientZones {
  zones: readonly string[];
  /** How the zones were found. */
  from: 'area_code' | 'country' | 'calling_code';
}

/**
 * The zones a number may be in, or null when nothing can be said: a +1 number
 * whose area code is in no table and that libphonenumber cannot place (the
 * fictional 555 range, unassigned codes), or a calling code with no country.
 */
export function recipientZones(phoneNumber: string): RecipientZones | null {
  const parsed = parsePhoneNumberFromString(phoneNumber);
  if (!parsed) return null;
  if (parsed.countryCallingCode === '1') {
    const byAreaCode = NANP_AREA_CODE_ZONES.get(String(parsed.nationalNumber).slice(0, 3));
    if (byAreaCode) return { zones: byAreaCode, from: 'area_code' };
    if (parsed.country) return nonEmpty(countryZones(parsed.country), 'country');
    return null;
  }
  if (parsed.country) return nonEmpty(countryZones(parsed.country), 'country');
  // Not a valid number for any one country: every country sharing the calling code.
  const zones = new Set<string>();
  for (const country of parsed.getPossibleCountries()) for (const zone of countryZones(country)) zones.add(zone);
  return nonEmpty([...zones], 'calling_code');
}

function nonEmpty(zones: readonly string[], from: RecipientZones['from']): RecipientZones | null {
  return zones.length > 0 ? { zones, from } : null;
}

const hourFormats = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock hour (0–23) in `zone` at `at`. */
export function localHour(zone: string, at: Date): number {
  let format = hourFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: 'numeric', hourCycle: 'h23' });
    hourFormats.set(zone, format);
  }
  const hour = format.formatToParts(at).find((part) => part.type === 'hour')?.value ?? '0';
  return Number(hour) % 24;
}
