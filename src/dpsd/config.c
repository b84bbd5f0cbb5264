/* placeholder: being written */
typedef int dps_placeholder_unit;
