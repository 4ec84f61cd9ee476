response = {
    "result": {
        "result": [],
        "result_error": [
            {"error": "", "error_description": "ID is not defined or invalid."},
            {"error": "", "error_description": "Not found"},
        ],
        "result_total": [],
        "result_next": [],
        "result_time": [],
    },
    "time": {
        "start": 1653125966.65013,
        "finish": 1653125966.680667,
        "duration": 0.030536890029907227,
        "processing": 0.009878158569335938,
        "date_start": "2022-05-21T12:39:26+03:00",
        "date_finish": "2022-05-21T12:39:26+03:00",
        "operating": 0.9455451965332031,
    },
}
