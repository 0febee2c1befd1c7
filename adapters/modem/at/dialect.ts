/**
 * What ends a command in one modem family. Final result codes are matched as whole lines: a payload
 * or info line that merely contains "ERROR" never ends a command (modems.md §4.3).
 */
export interface Dialect {
  name: string;
  /** Appended to every command written. */
  eol: string;
  ok: RegExp[];
  error: RegExp[];
}

/** 3GPP TS 27.007 modems (Quectel, SIMCom): OK / ERROR / +CME ERROR / +CMS ERROR, Quectel SEND OK. */
export const GSM: Dialect = {
  name: '3gpp',
  eol: '\r\n',
  ok: [/^OK$/, /^SEND OK$/],
  error: [/^ERROR$/, /^\+CME ERROR: ?.+$/, /^\+CMS ERROR: ?.+$/, /^SEND FAIL$/],
};

/** RAKwireless RUI3 (RAK3172, RAK4630...): OK, or one of the AT_*_ERROR strings (old FW included). */
export const RUI3: Dialect = {
  name: 'rui3',
  eol: '\r\n',
  ok: [/^OK$/],
  error: [/^AT_[A-Z_]*(ERROR|OVERFLOW|ENABLE|JOINED|FOUND|RESTRICTED)$/, /^ERROR$/],
};

/** Microchip RN2483/RN2903: lower-case, no AT prefix; value-returning commands end on their value line. */
export const RN2483: Dialect = {
  name: 'rn2483',
  eol: '\r\n',
  ok: [/^ok$/],
  error: [/^invalid_param$/, /^busy$/, /^err$/, /^denied$/, /^no_free_ch$/, /^silent$/, /^frame_counter_err_rejoin_needed$/, /^mac_paused$/, /^not_joined$/, /^keys_not_init$/],
};
